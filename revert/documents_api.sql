-- Revert odl-db:documents_api from pg
-- Restores the definitions released in @v0.1.0. Drop here, first,
-- anything the new version added.

-- odl_validate_document (sql/040_documents_api/odl_validate_document.sql).
drop function if exists odl.odl_validate_document(jsonb);
drop function if exists odl.document_findings(text);
delete from odl.python_modules where module = 'odl_db.integrity';

-- The cached write path (sql/040_documents_api/engine.sql).
drop function if exists odl.patch_cached_document(text, integer, text, text, text, integer);
drop function if exists odl.keep_cached_document(text, integer, text, text);
drop function if exists odl.check_new_document(text, text);
drop function if exists odl.document_cache_stats();
delete from odl.python_modules where module = 'odl_db.pieces';

-- The change feed (sql/040_documents_api/change_feed.sql).
drop function if exists odl.odl_changes_since(text, integer);
drop trigger if exists odl_document_versions_feed_order on odl.odl_document_versions;
drop function if exists odl.version_feed_order();
drop view if exists odl.readable_instances;
delete from odl.document_projectors where projector = 'instances';
-- Nothing keeps the projection up to date from here on; a new deploy projects again.
delete from odl.document_instances;
drop function if exists odl.rebuild_instances(text);
drop function if exists odl.project_instances(text, text, text, integer, jsonb, text[]);
drop function if exists odl.run_projectors(text, text, text, integer, jsonb, text[]);

-- What a reader sees of a change (sql/040_documents_api/change_requests.sql);
-- odl_change_requests() gained the column redacted, so it is dropped to
-- be created again with its released result.
drop function if exists odl.odl_change_requests(text, text);
drop function if exists odl.pointers_readable(text[], text[], text[]);
drop function if exists odl.redact_patch(jsonb, text[], text[]);
drop function if exists odl.pointer_reach(text, text[], text[]);
drop function if exists odl.reader_scope(text);

-- Hostile input (sql/040_documents_api/engine.sql, odl_jsonpatch.sql): the
-- pure engine's checks, and document_replay, whose result type changed.
drop function if exists odl.engine_patch(jsonb, jsonb);
drop function if exists odl.document_replay(jsonb, jsonb);

\ir ../deploy/documents_api@v0.1.0.sql
