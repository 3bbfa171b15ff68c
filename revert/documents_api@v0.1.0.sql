-- Revert odl-db:documents_api from pg

begin;

drop function odl.odl_jsonpatch_inverse(jsonb, jsonb);
drop function odl.odl_jsonpatch_apply(jsonb, jsonb);
drop view odl.readable_documents;
drop function odl.odl_change_requests(text, text);
drop function odl.odl_approve_change(text, text, text);
drop function odl.odl_set_project_phase(text, text);
drop function odl.stale_pointers(text, integer, jsonb);
drop function odl.odl_revert_document(text, integer, integer);
drop function odl.odl_document_history(text);
drop function odl.odl_document_heads(text);
drop function odl.odl_get_document(text, integer);
drop function odl.document_at(text, integer);
drop function odl.odl_apply_patch(text, jsonb, integer, text, text[], text, boolean, boolean);
drop function odl.submit_patch(text, jsonb, integer, text, text[], text, boolean, boolean, integer);
drop function odl.propose_patch(text, jsonb, integer, text, text[], text, boolean, text, integer);
drop function odl.write_patch(text, jsonb, integer, text, text[], text, boolean, integer);
drop function odl.odl_create_document(text, jsonb);
drop function public.jsonschema_is_valid(json);
drop function public.jsonb_matches_schema(json, jsonb);
drop function public.json_matches_schema(json, json);
drop function public.jsonschema_validation_errors(json, json);
drop function odl.json_schema_errors(json, json);
drop procedure odl.register_json_schema(text, jsonb);
drop function odl.json_schema_problems(jsonb);
drop function odl.document_replay(jsonb, jsonb);
drop function odl.document_patch(jsonb, jsonb, integer);
drop function odl.document_write(text, jsonb, integer);
drop function odl.raise_failure(text, text, text);
delete from odl.error_codes where sqlstate ~ '^OD[PVSD]';
delete from odl.python_modules where module in ('odl_db.jsonpatch', 'odl_db.validation', 'odl_db.documents');

commit;
