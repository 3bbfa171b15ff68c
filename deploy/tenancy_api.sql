-- Deploy odl-db:tenancy_api to pg
-- Reworked after @v0.1.0: Hostile input: limits, ledger, visibility
-- requires: tenancy
-- requires: audit_api

begin;

\ir ../sql/020_tenancy_api/admin.sql
\ir ../sql/020_tenancy_api/odl_create_project.sql
\ir ../sql/020_tenancy_api/project_summary.sql

call odl.adopt_objects();

commit;
