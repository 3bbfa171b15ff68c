-- Revert odl-db:ai_memory_api from pg

begin;

drop view odl.analyst_cag_entries;
drop view odl.analyst_ai_sessions;
delete from odl.document_projectors where projector = 'cag_invalidation';
drop function odl.project_cag_invalidation(text, text, text, integer, jsonb, text[]);
drop function odl.cag_invalidate(text, text, integer, jsonb, text[]);
drop function odl.odl_cag_get(text, text, text, text, text, jsonb, text);
drop function odl.odl_cag_put(text, text, text, text, text, jsonb, text, jsonb, interval);
drop function odl.cag_request(text, text, text, text, text, jsonb);
drop function odl.pointer_ancestors(text);
drop function odl.pointer_content_hash(jsonb, text);
drop function odl.odl_ai_context(text, integer);
drop procedure odl.ai_maintenance();
drop function odl.odl_ai_messages(text, integer);
drop function odl.odl_ai_store_summary(text, integer, text, integer);
drop function odl.odl_ai_append_message(text, text, text, integer, jsonb, text);
drop function odl.append_ai_message(text, text, text, integer, jsonb, text);
drop function odl.odl_ai_open_session(text, text, integer, text);
drop function odl.require_ai_session(text, boolean);
delete from odl.error_codes where sqlstate like 'ODI%';

commit;
