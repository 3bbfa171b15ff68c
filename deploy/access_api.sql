-- Deploy odl-db:access_api to pg
-- Reworked after @v0.1.0: Hostile input: limits, ledger, visibility
-- requires: access
-- requires: audit_api

begin;

\ir ../sql/060_access/rights.sql
\ir ../sql/060_access/redaction.sql
\ir ../sql/060_access/hierarchy.sql
\ir ../sql/060_access/assignments.sql
\ir ../sql/060_access/explain.sql
\ir ../sql/060_access/audit_trail.sql

call odl.adopt_objects();

commit;
