-- Deploy odl-db:security_audit to pg
-- requires: tenancy

begin;

\ir ../sql/090_security_audit/odl_security_audit.sql

call odl.adopt_objects();

commit;
