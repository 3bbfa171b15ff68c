-- Deploy odl-db:external_refs_api to pg
-- requires: external_refs
-- requires: documents_api
-- requires: access_api
-- requires: audit_api

begin;

\ir ../sql/130_external_refs/error_codes.sql
\ir ../sql/130_external_refs/odl_set_external.sql
\ir ../sql/130_external_refs/blob_purge.sql

call odl.adopt_objects();

commit;
