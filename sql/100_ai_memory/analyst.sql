-- Analysts' views of AI sessions and the CAG store: counts, tokens and
-- states, never a message, summary, prompt or response. Like the other
-- analyst views they run as their owner under RLS (the context's tenant)
-- and show only projects the reader may read (odl.readable_project).

create or replace view odl.analyst_ai_sessions
with (security_barrier)
as
select
    s.session_id,
    s.project_id,
    u.email as user_email,
    s.created_at,
    s.message_count as messages,
    m.tokens,
    m.tool_results,
    m.last_message_at,
    s.summary_through_seq,
    s.summary_tokens
from odl.ai_sessions as s
left join odl.users as u on s.tenant_id = u.tenant_id and s.user_id = u.user_id
cross join
    lateral (
        select
            coalesce(sum(x.tokens), 0) as tokens,
            count(*) filter (where x.role = 'tool') as tool_results,
            max(x.created_at) as last_message_at
        from odl.ai_messages as x
        where x.tenant_id = s.tenant_id and x.session_id = s.session_id and x.created_at >= s.created_at
    ) as m
where odl.readable_project(s.project_id);

revoke all on odl.analyst_ai_sessions from public;
grant select on odl.analyst_ai_sessions to odl_analyst;
comment on view odl.analyst_ai_sessions is
'AI sessions of projects the reader may read: who, when, how many messages and tokens (the callers'' counts), '
'tool results and the summary''s reach; no content (odl_analyst)';

create or replace view odl.analyst_cag_entries
with (security_barrier)
as
select
    e.cache_key,
    e.project_id,
    e.kind,
    e.tool,
    e.model_id,
    u.email as created_by_email,
    e.created_at,
    e.expires_at,
    e.hits,
    e.last_hit_at,
    e.dependency_count as dependencies,
    e.invalidated_at,
    e.invalidated_doc_id,
    e.invalidated_version,
    case
        when e.invalidated_at is not null then 'invalidated'
        when e.expires_at <= now() then 'expired'
        else 'valid'
    end as state
from odl.cag_entries as e
left join odl.users as u on e.tenant_id = u.tenant_id and e.created_by = u.user_id
where odl.readable_project(e.project_id);

revoke all on odl.analyst_cag_entries from public;
grant select on odl.analyst_cag_entries to odl_analyst;
comment on view odl.analyst_cag_entries is
'CAG entries of projects the reader may read: kind, tool, model, hits, expiry and invalidation (state valid, '
'expired or invalidated); no prompt, inputs or response (odl_analyst)';
