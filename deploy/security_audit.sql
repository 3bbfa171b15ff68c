-- Deploy odl-db:security_audit to pg
-- Reworked after @v0.1.0: Hostile input: limits, ledger, visibility
-- requires: tenancy

begin;

\ir ../sql/090_security_audit/odl_security_audit.sql

call odl.adopt_objects();

commit;
