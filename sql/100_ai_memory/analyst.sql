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
comment on column odl.analyst_ai_sessions.session_id is 'The session';
comment on column odl.analyst_ai_sessions.project_id is 'Its project';
comment on column odl.analyst_ai_sessions.user_email is 'The e-mail of the user whose session it is';
comment on column odl.analyst_ai_sessions.created_at is 'When it was opened';
comment on column odl.analyst_ai_sessions.messages is 'How many messages it has';
comment on column odl.analyst_ai_sessions.tokens is 'The tokens of its messages, as the application counted them';
comment on column odl.analyst_ai_sessions.tool_results is 'How many of its messages are tool results';
comment on column odl.analyst_ai_sessions.last_message_at is 'When its latest message was appended';
comment on column odl.analyst_ai_sessions.summary_through_seq is 'The last message its summary covers (null: none)';
comment on column odl.analyst_ai_sessions.summary_tokens is 'The summary''s tokens (null: none)';

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
comment on column odl.analyst_cag_entries.cache_key is 'The entry''s key (a hash; the prompt is not kept)';
comment on column odl.analyst_cag_entries.project_id is 'The project it was made for';
comment on column odl.analyst_cag_entries.kind is 'prompt_response, embedding, tool_output, simulation_result, ...';
comment on column odl.analyst_cag_entries.tool is 'The tool and its version';
comment on column odl.analyst_cag_entries.model_id is 'The model';
comment on column odl.analyst_cag_entries.created_by_email is 'The e-mail of the user who stored it';
comment on column odl.analyst_cag_entries.created_at is 'When it was stored';
comment on column odl.analyst_cag_entries.expires_at is 'When it expires';
comment on column odl.analyst_cag_entries.hits is 'How many lookups it answered since it was stored';
comment on column odl.analyst_cag_entries.last_hit_at is 'When it last answered one';
comment on column odl.analyst_cag_entries.dependencies is 'How many parts of documents it depends on';
comment on column odl.analyst_cag_entries.invalidated_at is 'When a change of a dependency invalidated it';
comment on column odl.analyst_cag_entries.invalidated_doc_id is 'The document whose change invalidated it';
comment on column odl.analyst_cag_entries.invalidated_version is 'The version of that document that did';
comment on column odl.analyst_cag_entries.state is 'valid, expired or invalidated';
