-- Deploy odl-db:ai_memory to pg
-- requires: documents_v2
-- requires: audit
-- requires: tenancy
-- What AI assistants remember: sessions and their messages (monthly
-- partitions by pg_partman), each session's rolling summary, and the CAG
-- store (cache-ahead-of-generation): entries keyed by tenant and a hash,
-- with the parts of documents each one depends on. The functions are the
-- change ai_memory_api's (sql/100_ai_memory).

begin;

-- A session belongs to one user and one project. Counters kept here let
-- an append check the tool-call protocol without reading the messages.
create table odl.ai_sessions (
    tenant_id odl.ulid not null,
    session_id odl.ulid not null,
    project_id odl.ulid not null,
    user_id odl.ulid not null,
    title text,
    created_at timestamptz not null default now(),
    message_count integer not null default 0,
    last_user_seq integer,
    pending_call_seq integer,
    pending_tool_calls text[] not null default '{}',
    summary text,
    summary_tokens integer,
    summary_through_seq integer,
    summary_at timestamptz,
    primary key (tenant_id, session_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade,
    foreign key (tenant_id, user_id) references odl.users (tenant_id, user_id) on delete cascade,
    constraint ai_sessions_summary_complete check (
        (summary is null) = (summary_tokens is null)
        and (summary is null) = (summary_through_seq is null)
        and (summary is null) = (summary_at is null)
    ),
    constraint ai_sessions_summary_before_turn check (summary_through_seq < last_user_seq),
    constraint ai_sessions_summary_tokens_not_negative check (summary_tokens >= 0),
    constraint ai_sessions_pending_calls check ((pending_call_seq is null) = (pending_tool_calls = '{}'))
);
create index ai_sessions_user_idx on odl.ai_sessions (tenant_id, user_id, created_at);
comment on table odl.ai_sessions is
'AI chat sessions: one user, one project; the rolling summary the application wrote (never a message, so it is '
'never summarised again) and the counters the tool-call protocol needs';
comment on column odl.ai_sessions.message_count is 'Messages appended so far; the next gets seq message_count + 1';
comment on column odl.ai_sessions.last_user_seq is 'seq of the latest user message: the current turn starts there';
comment on column odl.ai_sessions.pending_call_seq is 'seq of the assistant message whose tool calls await results';
comment on column odl.ai_sessions.pending_tool_calls is 'Ids of that message''s tool calls still without a result';
comment on column odl.ai_sessions.summary is
'The application''s summary of messages 1 (or 2 after a system message) to summary_through_seq';
comment on column odl.ai_sessions.summary_tokens is 'The summary''s token count, as the application counted it';
comment on column odl.ai_sessions.summary_through_seq is
'The last message the summary covers; always before the latest user message and never inside a tool call';
comment on constraint ai_sessions_summary_complete on odl.ai_sessions is
'A summary has its text, tokens, end and time, or none of them';
comment on constraint ai_sessions_summary_before_turn on odl.ai_sessions is
'The summary never covers the current turn, which odl_ai_context() always sends whole';
comment on constraint ai_sessions_summary_tokens_not_negative on odl.ai_sessions is 'Token counts are not negative';
comment on constraint ai_sessions_pending_calls on odl.ai_sessions is
'Tool calls are pending for exactly one assistant message, or none';

-- Messages, by month. The partition key is in the primary key; seq is
-- unique per session because appends number it under the session's lock.
create table odl.ai_messages (
    tenant_id odl.ulid not null,
    session_id odl.ulid not null,
    seq integer not null,
    created_at timestamptz not null default now(),
    role text not null,
    content text not null,
    tokens integer not null,
    tool_calls jsonb,
    tool_call_id text,
    call_seq integer,
    primary key (tenant_id, session_id, seq, created_at),
    foreign key (tenant_id, session_id) references odl.ai_sessions (tenant_id, session_id) on delete cascade,
    constraint ai_messages_role check (role in ('system', 'user', 'assistant', 'tool')),
    constraint ai_messages_seq_positive check (seq >= 1),
    constraint ai_messages_tokens_not_negative check (tokens >= 0),
    constraint ai_messages_system_first check (role <> 'system' or seq = 1),
    constraint ai_messages_tool_calls_of_assistant check (
        tool_calls is null or role = 'assistant' and jsonb_typeof(tool_calls) = 'array'
    ),
    constraint ai_messages_tool_result_linked check (
        (role = 'tool') = (tool_call_id is not null) and (role = 'tool') = (call_seq is not null)
        and call_seq < seq
    )
) partition by range (created_at);
comment on table odl.ai_messages is
'Messages of AI sessions, in order (seq); monthly partitions by pg_partman. Token counts are the caller''s';
comment on column odl.ai_messages.tokens is 'The message''s token count, as the caller''s tokenizer counted it';
comment on column odl.ai_messages.tool_calls is
'An assistant message''s tool calls as the caller sent them: an array of objects, each with a string id';
comment on column odl.ai_messages.tool_call_id is 'A tool result: the id of the call it answers';
comment on column odl.ai_messages.call_seq is
'A tool result: seq of the assistant message that made the call; the two are never sent apart';
comment on constraint ai_messages_role on odl.ai_messages is 'The four roles of chat completion APIs';
comment on constraint ai_messages_seq_positive on odl.ai_messages is 'A session''s messages are numbered from 1';
comment on constraint ai_messages_tokens_not_negative on odl.ai_messages is 'Token counts are not negative';
comment on constraint ai_messages_system_first on odl.ai_messages is 'The one system message comes first';
comment on constraint ai_messages_tool_calls_of_assistant on odl.ai_messages is
'Only assistant messages make tool calls, as an array';
comment on constraint ai_messages_tool_result_linked on odl.ai_messages is
'A tool message, and only one, answers a call of an earlier assistant message';

alter table odl.ai_sessions enable row level security;
alter table odl.ai_sessions force row level security;
create policy tenant_isolation on odl.ai_sessions
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
alter table odl.ai_messages enable row level security;
alter table odl.ai_messages force row level security;
create policy tenant_isolation on odl.ai_messages
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

-- What odl_ai_context() and odl_ai_messages() return: one message to send.
create type odl.ai_context_message as (
    seq integer,
    role text,
    content text,
    tokens integer,
    tool_calls jsonb,
    tool_call_id text,
    is_summary boolean
);
comment on type odl.ai_context_message is
'A message to send to a model: a stored message (seq), or the session''s summary (is_summary, seq null, role '
'system) in place of the messages it covers';

-- The CAG store. An entry's key hashes the tenant, project, kind, tool,
-- model, the caller's policy fingerprint, prompt and inputs; its
-- dependencies are the parts of documents the response was made from.
create table odl.cag_entries (
    tenant_id odl.ulid not null,
    cache_key text not null,
    project_id odl.ulid not null,
    kind text not null,
    tool text not null,
    model_id text not null,
    policy_fingerprint text not null,
    response text not null,
    created_by odl.ulid not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    dependency_count integer not null,
    hits bigint not null default 0,
    last_hit_at timestamptz,
    invalidated_at timestamptz,
    invalidated_doc_id odl.ulid,
    invalidated_version integer,
    primary key (tenant_id, cache_key),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade,
    foreign key (tenant_id, created_by) references odl.users (tenant_id, user_id) on delete cascade,
    constraint cag_entries_key_format check (cache_key ~ '^[0-9a-f]{64}$'),
    constraint cag_entries_kind check (
        kind in (
            'prompt_response', 'embedding', 'tool_output', 'simulation_result', 'knowledge_retrieval', 'agent_plan'
        )
    ),
    constraint cag_entries_dependency_count check (dependency_count between 0 and 100),
    constraint cag_entries_invalidation_complete check (
        invalidated_at is not null or invalidated_doc_id is null and invalidated_version is null
    )
);
create index cag_entries_project_idx on odl.cag_entries (tenant_id, project_id, created_at);
comment on table odl.cag_entries is
'CAG store: responses cached per tenant under a hash of project, kind, tool, model, the caller''s policy '
'fingerprint, prompt and inputs. A patch that changes a dependency invalidates the entry in its transaction';
comment on column odl.cag_entries.cache_key is
'sha256 (hex) of [tenant, project, kind, tool, model, policy fingerprint, prompt, inputs] as jsonb text';
comment on column odl.cag_entries.tool is 'The tool and its version (name@semver): a new version is a new key';
comment on column odl.cag_entries.policy_fingerprint is
'sha256 of the caller''s rights and clearance at the project: callers who may read different things never share '
'an entry';
comment on column odl.cag_entries.dependency_count is
'How many dependencies the entry was stored with; fewer left (a document deleted) is a miss';
comment on column odl.cag_entries.invalidated_at is
'When a patch changed a dependency (the entry is a miss from then on until stored again)';
comment on column odl.cag_entries.invalidated_version is 'The document version whose patch invalidated the entry';
comment on constraint cag_entries_key_format on odl.cag_entries is 'A SHA-256 in lower-case hex';
comment on constraint cag_entries_kind on odl.cag_entries is 'The kinds of cached result (each has its own TTL)';
comment on constraint cag_entries_dependency_count on odl.cag_entries is 'At most 100 dependencies per entry';
comment on constraint cag_entries_invalidation_complete on odl.cag_entries is
'Only an invalidated entry names the document and version that invalidated it (none when a dependency vanished)';

-- One row per (document, pointer prefix) an entry read. The key leads with
-- the document and the prefix (collation C) so that the projector finds a
-- changed pointer's ancestors by equality and its descendants by a range.
create table odl.cag_dependencies (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null,
    pointer_prefix text collate "C" not null,
    cache_key text not null,
    doc_version integer not null,
    content_hash text not null,
    primary key (tenant_id, doc_id, pointer_prefix, cache_key),
    foreign key (tenant_id, cache_key) references odl.cag_entries (tenant_id, cache_key) on delete cascade,
    foreign key (tenant_id, doc_id) references odl.odl_documents (tenant_id, doc_id) on delete cascade,
    constraint cag_dependencies_pointer check (pointer_prefix = '' or pointer_prefix ~ '^/')
);
create index cag_dependencies_entry_idx on odl.cag_dependencies (tenant_id, cache_key);
comment on table odl.cag_dependencies is
'What a CAG entry was made from: a document, a JSON pointer prefix there, the version read and the hash of the '
'content under the prefix (the drift check compares it with the current content)';
comment on column odl.cag_dependencies.content_hash is
'sha256 (hex) of the jsonb text under the prefix, of the empty string when absent (odl.pointer_content_hash)';
comment on column odl.cag_dependencies.doc_version is 'The document version at which content_hash was last checked';
comment on constraint cag_dependencies_pointer on odl.cag_dependencies is 'An RFC 6901 JSON pointer';

alter table odl.cag_entries enable row level security;
alter table odl.cag_entries force row level security;
create policy tenant_isolation on odl.cag_entries
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
alter table odl.cag_dependencies enable row level security;
alter table odl.cag_dependencies force row level security;
create policy tenant_isolation on odl.cag_dependencies
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

-- Monthly message partitions, four made ahead, and a default partition so
-- that no message is refused for want of one; odl.ai_maintenance() makes
-- the next ones (as odl.audit_maintenance() does for the ledger).
do $$
declare
    partman_schema text;
    partman_version text;
begin
    select e.extnamespace::regnamespace::text, e.extversion
    into partman_schema, partman_version
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';

    execute format(
        'select %I.create_parent(p_parent_table := %L, p_control := %L, p_type := %L, p_interval := %L,'
        ' p_premake := 4, p_start_partition := %L, p_automatic_maintenance := %L)',
        partman_schema, 'odl.ai_messages', 'created_at',
        case when split_part(partman_version, '.', 1)::int < 5 then 'native' else 'range' end,
        '1 month', date_trunc('month', now())::text, 'off'
    );
    execute format(
        'update %I.part_config set infinite_time_partitions = true where parent_table = %L',
        partman_schema, 'odl.ai_messages'
    );
end
$$;

revoke all on odl.ai_sessions, odl.ai_messages, odl.cag_entries, odl.cag_dependencies from public;
alter table odl.ai_messages owner to odl_owner;
-- adopt_objects() leaves composite types to their relation's owner.
alter type odl.ai_context_message owner to odl_owner;
call odl.adopt_objects();

commit;
