-- Deploy odl-db:external_refs_read to pg
-- requires: external_refs
-- requires: access_api

begin;

\ir ../sql/041_external_read/document_resolved.sql

call odl.adopt_objects();

commit;
