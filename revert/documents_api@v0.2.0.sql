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

-- ODV01's JSON detail (sql/040_documents_api/odl_apply_patch.sql).
drop function if exists odl.raise_version_conflict(text, integer, integer);

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

-- Caller schemas validated in a child process (sql/040_documents_api/json_schemas.sql).
drop function if exists odl.untrusted_schema_call(text, json, json);
drop function if exists odl.sandbox_call(text, text, text, integer);
revoke execute on function public.jsonschema_validation_errors(json, json) from odl_app, odl_admin;
revoke execute on function public.json_matches_schema(json, json) from odl_app, odl_admin;
revoke execute on function public.jsonb_matches_schema(json, jsonb) from odl_app, odl_admin;
revoke execute on function public.jsonschema_is_valid(json) from odl_app, odl_admin;
delete from odl.python_modules where module = 'odl_db.sandbox';

-- Hostile input (sql/040_documents_api/engine.sql, odl_jsonpatch.sql): the
-- pure engine's checks, and document_replay, whose result type changed.
drop function if exists odl.engine_patch(jsonb, jsonb);
drop function if exists odl.document_replay(jsonb, jsonb);

\ir ../deploy/documents_api@v0.1.0.sql
