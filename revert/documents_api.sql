-- Revert odl-db:documents_api from pg
-- Restores the definitions released in @v0.2.0. Drop here, first,
-- anything the new version added.

-- The released write path reads doc_json as the document: every document
-- and snapshot kept with sub-trees outside is written whole again first.
begin;
set local row_security = off;
update odl.odl_documents
set doc_json = odl.document_resolved(tenant_id, doc_json, external), external = null
where external is not null;
update odl.odl_document_versions
set doc_json = odl.document_resolved(tenant_id, doc_json, external), external = null
where external is not null;
commit;

drop function if exists odl.patch_cached_document(text, integer, text, text, text, text, integer);
drop function if exists odl.check_new_document(text, text);

\ir ../deploy/documents_api@v0.2.0.sql

-- After the released view no longer calls them.
drop function if exists odl.store_document_blobs(text, text, jsonb, text[], text[]);
drop function if exists odl.forget_cached_document(text);
drop function if exists odl.change_feed_horizon();
