-- Deploy odl-db:audit_api to pg
-- Reworked after @v0.2.0: verification starts from the latest retention anchor
-- Reworked after @v0.1.0: Hostile input: limits, ledger, visibility
-- requires: audit

begin;

\ir ../sql/050_audit/keys.sql
\ir ../sql/050_audit/append_only.sql
\ir ../sql/050_audit/audit_append.sql
\ir ../sql/050_audit/odl_audit_digest.sql
\ir ../sql/050_audit/odl_audit_verify.sql
\ir ../sql/050_audit/odl_audit_since.sql

call odl.adopt_objects();

commit;
