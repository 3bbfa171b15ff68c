-- Revert odl-db:security_audit from pg

begin;

drop function odl.odl_security_audit();

commit;
