-- Verify odl-db:ai_memory_api on pg

select 1 / count(*)
from pg_catalog.pg_proc
where oid = 'odl.odl_ai_open_session(text, text, integer, text)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc
where oid = 'odl.odl_ai_append_message(text, text, text, integer, jsonb, text)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc
where oid = 'odl.odl_ai_store_summary(text, integer, text, integer)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc where oid = 'odl.odl_ai_messages(text, integer)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc where oid = 'odl.odl_ai_context(text, integer)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc where oid = 'odl.ai_maintenance()'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc
where oid = 'odl.odl_cag_put(text, text, text, text, text, jsonb, text, jsonb, interval)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc
where oid = 'odl.odl_cag_get(text, text, text, text, text, jsonb, text)'::regprocedure;
select 1 / count(*) from odl.document_projectors
where
    projector = 'cag_invalidation' and enabled
    and handler = 'odl.project_cag_invalidation(text, text, text, integer, jsonb, text[])'::regprocedure;
select 1 / (count(*) = 8)::int from odl.error_codes where sqlstate like 'ODI%';
select session_id, project_id, user_email, messages, tokens, tool_results, summary_through_seq
from odl.analyst_ai_sessions where false;
select cache_key, project_id, kind, tool, model_id, hits, dependencies, invalidated_at, state
from odl.analyst_cag_entries where false;
select 1 / (count(*) = 2)::int
from pg_catalog.pg_class as c
where
    c.oid in ('odl.analyst_ai_sessions'::regclass, 'odl.analyst_cag_entries'::regclass)
    and 'security_barrier=true' = any(c.reloptions)
    and pg_catalog.has_table_privilege('odl_analyst', c.oid, 'SELECT')
    and not pg_catalog.has_table_privilege('odl_app', c.oid, 'SELECT');
