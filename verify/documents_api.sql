-- Verify odl-db:documents_api on pg

select 'odl.odl_create_document(text, jsonb)'::regprocedure;
select 'odl.odl_validate_document(jsonb)'::regprocedure;
select 'odl.odl_apply_patch(text, jsonb, integer, text, text [], text, boolean, boolean)'::regprocedure;
select 'odl.odl_approve_change(text, text, text)'::regprocedure;
select 'odl.odl_set_project_phase(text, text)'::regprocedure;
select doc_id, document, redacted from odl.readable_documents where false;
select 'odl.odl_get_document(text, integer)'::regprocedure;
select 'odl.odl_document_heads(text)'::regprocedure;
select 'odl.odl_document_history(text)'::regprocedure;
select 'odl.odl_revert_document(text, integer, integer)'::regprocedure;
select 1 / (odl.odl_jsonpatch_apply('{"a": 1}', '[{"op": "add", "path": "/b", "value": 2}]') = '{"a": 1, "b": 2}')::int;
select 1 / (
    odl.odl_jsonpatch_inverse('{"a": 1}', '[{"op": "remove", "path": "/a"}]')
    = '[{"op": "add", "path": "/a", "value": 1}]'
)::int;
select 1 / public.json_matches_schema('{"type": "integer"}', '1')::int;
select 1 / (not public.jsonb_matches_schema('{"type": "integer"}', '"x"'))::int;
select 1 / public.jsonschema_is_valid('{"type": "object"}')::int;
select 1 / (count(*) = 10)::int from odl.error_codes where sqlstate ~ '^OD[PVSD]';
select 'odl.run_projectors(text, text, text, integer, jsonb, text[])'::regprocedure;
select 'odl.rebuild_instances(text)'::regprocedure;
select 'odl.odl_changes_since(text, integer)'::regprocedure;
select 'odl.change_feed_horizon()'::regprocedure;
select 1 / count(*)::int from pg_catalog.pg_trigger where tgname = 'odl_document_versions_feed_order';
select 1 / count(*)::int from odl.document_projectors where projector = 'instances';
select project_id, doc_id, instance_id, type_ref, lat, lon from odl.readable_instances where false;
select 1 / count(*)::int from pg_catalog.pg_proc
where oid = 'odl.odl_change_requests(text, text)'::regprocedure and 'redacted' = any(proargnames);
select 'odl.redact_patch(jsonb, text[], text[])'::regprocedure;
select 'odl.untrusted_schema_call(text, json, json)'::regprocedure;
select 'odl.sandbox_call(text, text, text, integer)'::regprocedure;
select 1 / (not has_function_privilege('public', 'public.json_matches_schema(json, json)', 'execute'))::int;
select 'odl.store_document_blobs(text, text, jsonb, text[], text[])'::regprocedure;
select 'odl.patch_cached_document(text, integer, text, text, text, text, integer)'::regprocedure;
