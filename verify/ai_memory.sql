-- Verify odl-db:ai_memory on pg

select
    tenant_id, session_id, project_id, user_id, title, created_at, message_count, last_user_seq, pending_call_seq,
    pending_tool_calls, summary, summary_tokens, summary_through_seq, summary_at
from odl.ai_sessions where false;
select tenant_id, session_id, seq, created_at, role, content, tokens, tool_calls, tool_call_id, call_seq
from odl.ai_messages where false;
select
    tenant_id, cache_key, project_id, kind, tool, model_id, policy_fingerprint, response, created_by, created_at,
    expires_at, dependency_count, hits, last_hit_at, invalidated_at, invalidated_doc_id, invalidated_version
from odl.cag_entries where false;
select tenant_id, doc_id, pointer_prefix, cache_key, doc_version, content_hash from odl.cag_dependencies where false;
-- Forced RLS on every table, and the messages partitioned by pg_partman.
select 1 / (count(*) = 4)::int
from pg_catalog.pg_class as c
where c.oid in (
    'odl.ai_sessions'::regclass, 'odl.ai_messages'::regclass, 'odl.cag_entries'::regclass,
    'odl.cag_dependencies'::regclass
)
and c.relrowsecurity and c.relforcerowsecurity;
select 1 / count(*)
from pg_catalog.pg_partitioned_table as p
where p.partrelid = 'odl.ai_messages'::regclass;
select (null::odl.ai_context_message).is_summary;
