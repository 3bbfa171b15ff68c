-- Revert odl-db:documents_api from pg
-- Restores the definitions released in @v0.2.0. Drop here, first,
-- anything the new version added.

drop function if exists odl.patch_cached_document(text, integer, text, text, text, text, integer);
drop function if exists odl.check_new_document(text, text);

\ir ../deploy/documents_api@v0.2.0.sql

-- After the released view no longer calls them.
drop function if exists odl.document_json(odl.odl_documents);
drop function if exists odl.store_document_blobs(text, text, jsonb, text[], text[]);
drop function if exists odl.document_resolved(text, jsonb, jsonb);
drop function if exists odl.forget_cached_document(text);
