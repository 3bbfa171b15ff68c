-- Verify odl-db:security_audit on pg

select finding, object_name, detail from odl.odl_security_audit() where false;
