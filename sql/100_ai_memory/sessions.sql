-- AI sessions and their messages. A session is its user's alone: another
-- user, even in the same tenant, finds no such session (ODI01). Every call
-- checks that the user still may read the project (ODR01), and every write
-- is audited; the ledger keeps a message's hash, never its text.
--
-- The tool-call protocol is the one chat completion APIs require: an
-- assistant message's tool calls are answered by tool messages that follow
-- it before any other message. So a call and its results are always
-- contiguous, and odl_ai_context() moves them as one unit.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODI01', 'unknown_ai_session', 'The AI session does not exist or belongs to another user'),
('ODI02', 'invalid_ai_message', 'The message''s role, tokens, tool calls or place breaks the rules of a session'),
('ODI03', 'tool_call_mismatch', 'A tool result answers no pending call, or a message comes while calls await results'),
('ODI04', 'invalid_ai_summary', 'The summary''s end is not before the latest user message or falls inside a tool call'),
('ODI05', 'context_over_budget', 'The system message and the current turn alone exceed the token budget')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.require_ai_session(session_id text, for_update boolean)
returns odl.ai_sessions
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    found_session odl.ai_sessions;
begin
    if for_update then
        select * into found_session from odl.ai_sessions as s
        where s.session_id = require_ai_session.session_id and s.user_id = context.user_id
        for no key update;
    else
        select * into found_session from odl.ai_sessions as s
        where s.session_id = require_ai_session.session_id and s.user_id = context.user_id;
    end if;
    if found_session.session_id is null then
        raise exception using
            errcode = 'ODI01',
            message = 'AI session does not exist',
            detail = format('session_id %s', quote_nullable(require_ai_session.session_id));
    end if;
    if not odl.readable_project(found_session.project_id) then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: an AI session needs R on the project',
            detail = format('user_id %s, project_id %s', context.user_id, found_session.project_id);
    end if;
    return found_session;
end
$$;

revoke all on function odl.require_ai_session(text, boolean) from public;
comment on function odl.require_ai_session(text, boolean) is
'The context user''s own session (locked when for_update): ODI01 when it is not theirs or does not exist, ODR01 '
'when they may no longer read its project';

create or replace function odl.odl_ai_open_session(
    project_id text,
    system_prompt text default null,
    system_tokens integer default null,
    title text default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    new_session_id text := odl.odl_ulid();
begin
    if not exists (select from odl.projects as p where p.project_id = odl_ai_open_session.project_id) then
        raise exception using
            errcode = 'ODD02',
            message = 'project does not exist',
            detail = format('project_id %s', quote_nullable(odl_ai_open_session.project_id));
    end if;
    if not odl.readable_project(odl_ai_open_session.project_id) then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: an AI session needs R on the project',
            detail = format('user_id %s, project_id %s', context.user_id, odl_ai_open_session.project_id);
    end if;
    if octet_length(title) > 200 then
        raise exception using
            errcode = '22023',
            message = 'an AI session''s title is at most 200 bytes',
            detail = format('title of %s bytes', octet_length(title));
    end if;
    insert into odl.ai_sessions (tenant_id, session_id, project_id, user_id, title)
    values (context.tenant_id, new_session_id, odl_ai_open_session.project_id, context.user_id, title);
    if system_prompt is not null then
        perform odl.append_ai_message(new_session_id, 'system', system_prompt, system_tokens, null, null);
    end if;
    perform odl.audit_append(
        'ai.session.opened',
        jsonb_build_object('session_id', new_session_id, 'system_tokens', system_tokens),
        odl_ai_open_session.project_id
    );
    return new_session_id;
end
$$;

revoke all on function odl.odl_ai_open_session(text, text, integer, text) from public;
grant execute on function odl.odl_ai_open_session(text, text, integer, text) to odl_app;
comment on function odl.odl_ai_open_session(text, text, integer, text) is
'Opens an AI session of the context''s user on a project they may read, with its system message (and its token '
'count) when given; returns the session_id. ODC01, ODD02, ODR01, ODI02, 22023';

-- The checks and the insert, without the audit: odl_ai_open_session()
-- audits the session and its system message as one event.
create or replace function odl.append_ai_message(
    session_id text,
    role text,
    content text,
    tokens integer,
    tool_calls jsonb,
    tool_call_id text
)
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    target odl.ai_sessions := odl.require_ai_session(append_ai_message.session_id, true);
    new_seq integer := target.message_count + 1;
    call_ids text [];
    answered_seq integer;
begin
    if role is null or role not in ('system', 'user', 'assistant', 'tool') then
        raise exception using
            errcode = 'ODI02',
            message = 'a message''s role is system, user, assistant or tool',
            detail = format('role %s', quote_nullable(role));
    end if;
    if tokens is null or tokens < 0 then
        raise exception using
            errcode = 'ODI02',
            message = 'a message needs its token count, not negative',
            detail = format('tokens %s', coalesce(tokens::text, 'null')),
            hint = 'Count tokens with the model''s tokenizer before appending.';
    end if;
    if content is null then
        raise exception using
            errcode = 'ODI02',
            message = 'a message needs content (empty text for none)';
    end if;
    perform odl.check_limit('document_bytes', octet_length(content), 'the message');
    if role = 'system' and new_seq <> 1 then
        raise exception using
            errcode = 'ODI02',
            message = 'the system message must be a session''s first',
            detail = format('session_id %s has %s messages', target.session_id, target.message_count);
    end if;
    if tool_calls is not null then
        perform odl.check_json(tool_calls, null, 'patch_bytes', 'the tool calls', 1);
        if role <> 'assistant' or jsonb_typeof(tool_calls) <> 'array' or jsonb_array_length(tool_calls) not between 1 and 20
        then
            raise exception using
                errcode = 'ODI02',
                message = 'tool calls are an array of 1 to 20 calls of an assistant message',
                detail = format('role %s, tool_calls %s', role, left(tool_calls::text, 200));
        end if;
        call_ids := array(select c ->> 'id' from jsonb_array_elements(tool_calls) as c);
        if exists (
            select from jsonb_array_elements(tool_calls) as c where jsonb_typeof(c -> 'id') is distinct from 'string'
        ) or cardinality(call_ids) <> (select count(distinct i) from unnest(call_ids) as i)
        then
            raise exception using
                errcode = 'ODI02',
                message = 'each tool call needs a string id, unique within the message',
                detail = format('tool_calls %s', left(tool_calls::text, 200));
        end if;
    end if;
    if (role = 'tool') <> (tool_call_id is not null) then
        raise exception using
            errcode = 'ODI02',
            message = 'a tool message, and only a tool message, names the tool_call_id it answers',
            detail = format('role %s, tool_call_id %s', role, quote_nullable(tool_call_id));
    end if;

    -- Calls pending: only their results may come, each once.
    if role = 'tool' then
        if not tool_call_id = any(target.pending_tool_calls) then
            raise exception using
                errcode = 'ODI03',
                message = 'tool result answers no pending tool call',
                detail = format(
                    'tool_call_id %s; pending: %s', quote_literal(tool_call_id),
                    coalesce(nullif(array_to_string(target.pending_tool_calls, ', '), ''), 'none')
                );
        end if;
        answered_seq := target.pending_call_seq;
    elsif target.pending_tool_calls <> '{}' then
        raise exception using
            errcode = 'ODI03',
            message = 'tool calls await their results',
            detail = format(
                'message %s has pending tool calls %s', target.pending_call_seq,
                array_to_string(target.pending_tool_calls, ', ')
            ),
            hint = 'Append a tool message for each pending call first.';
    end if;

    insert into odl.ai_messages (
        tenant_id, session_id, seq, created_at, role, content, tokens, tool_calls, tool_call_id, call_seq
    )
    values (
        target.tenant_id, target.session_id, new_seq, greatest(now(), target.created_at), role, content, tokens,
        tool_calls, tool_call_id, answered_seq
    );
    update odl.ai_sessions as s
    set message_count = new_seq,
        last_user_seq = case when append_ai_message.role = 'user' then new_seq else s.last_user_seq end,
        pending_tool_calls = case
            when append_ai_message.role = 'tool' then array_remove(s.pending_tool_calls, tool_call_id)
            when call_ids is not null then call_ids
            else s.pending_tool_calls
        end,
        pending_call_seq = case
            when append_ai_message.role = 'tool' and s.pending_tool_calls = array[tool_call_id] then null
            when call_ids is not null then new_seq
            else s.pending_call_seq
        end
    where s.tenant_id = target.tenant_id and s.session_id = target.session_id;
    return new_seq;
end
$$;

revoke all on function odl.append_ai_message(text, text, text, integer, jsonb, text) from public;
comment on function odl.append_ai_message(text, text, text, integer, jsonb, text) is
'Checks a message against the session''s rules (ODI02, ODI03) and appends it; returns its seq. Not audited: '
'for odl_ai_open_session() and odl_ai_append_message(), which audit';

create or replace function odl.odl_ai_append_message(
    session_id text,
    role text,
    content text,
    tokens integer,
    tool_calls jsonb default null,
    tool_call_id text default null
)
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    new_seq integer := odl.append_ai_message(session_id, role, content, tokens, tool_calls, tool_call_id);
begin
    perform odl.audit_append(
        'ai.message.appended',
        jsonb_build_object(
            'session_id', odl_ai_append_message.session_id, 'seq', new_seq, 'role', odl_ai_append_message.role,
            'tokens', odl_ai_append_message.tokens,
            'content_sha256', encode(sha256(convert_to(odl_ai_append_message.content, 'UTF8')), 'hex'),
            'tool_call_id', odl_ai_append_message.tool_call_id
        ),
        (select s.project_id from odl.ai_sessions as s where s.session_id = odl_ai_append_message.session_id)
    );
    return new_seq;
end
$$;

revoke all on function odl.odl_ai_append_message(text, text, text, integer, jsonb, text) from public;
grant execute on function odl.odl_ai_append_message(text, text, text, integer, jsonb, text) to odl_app;
comment on function odl.odl_ai_append_message(text, text, text, integer, jsonb, text) is
'Appends a message to the context user''s session and returns its seq. role: system (first only), user, '
'assistant (tool_calls: array of objects with unique string ids), tool (tool_call_id: a pending call of the '
'assistant message before). tokens: the caller''s count. ODC01, ODI01, ODI02, ODI03, ODR01, ODL01';

create or replace function odl.odl_ai_store_summary(session_id text, through_seq integer, summary text, tokens integer)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    target odl.ai_sessions := odl.require_ai_session(odl_ai_store_summary.session_id, true);
    first_seq integer;
begin
    if summary is null or summary = '' or tokens is null or tokens < 0 then
        raise exception using
            errcode = 'ODI04',
            message = 'a summary needs text and its token count, not negative',
            detail = format('tokens %s', coalesce(tokens::text, 'null'));
    end if;
    perform odl.check_limit('document_bytes', octet_length(summary), 'the summary');
    select min(m.seq) into first_seq
    from odl.ai_messages as m
    where m.tenant_id = target.tenant_id and m.session_id = target.session_id and m.created_at >= target.created_at
        and m.role <> 'system';
    -- The current turn is always sent whole, so a summary ends before it;
    -- it ends where the next message is no tool result, so a call and its
    -- results are summarised together.
    if through_seq is null or target.last_user_seq is null or through_seq < first_seq
        or through_seq >= target.last_user_seq
    then
        raise exception using
            errcode = 'ODI04',
            message = 'a summary must end before the latest user message',
            detail = format(
                'through_seq %s; the session''s messages before the current turn are %s to %s',
                coalesce(through_seq::text, 'null'), coalesce(first_seq::text, 'none'),
                coalesce((target.last_user_seq - 1)::text, 'none')
            );
    end if;
    if exists (
        select from odl.ai_messages as m
        where m.tenant_id = target.tenant_id and m.session_id = target.session_id
            and m.created_at >= target.created_at and m.seq = through_seq + 1 and m.role = 'tool'
    ) then
        raise exception using
            errcode = 'ODI04',
            message = 'a summary cannot end inside a tool call',
            detail = format('message %s is a tool result of an earlier call', through_seq + 1),
            hint = 'End the summary after the call''s last result.';
    end if;
    update odl.ai_sessions as s
    set summary = odl_ai_store_summary.summary,
        summary_tokens = odl_ai_store_summary.tokens,
        summary_through_seq = odl_ai_store_summary.through_seq,
        summary_at = now()
    where s.tenant_id = target.tenant_id and s.session_id = target.session_id;
    perform odl.audit_append(
        'ai.summary.stored',
        jsonb_build_object(
            'session_id', target.session_id, 'through_seq', through_seq, 'tokens', tokens,
            'summary_sha256', encode(sha256(convert_to(summary, 'UTF8')), 'hex')
        ),
        target.project_id
    );
end
$$;

revoke all on function odl.odl_ai_store_summary(text, integer, text, integer) from public;
grant execute on function odl.odl_ai_store_summary(text, integer, text, integer) to odl_app;
comment on function odl.odl_ai_store_summary(text, integer, text, integer) is
'Stores the application''s summary of the session''s messages up to through_seq (written from those messages, '
'odl_ai_messages(), never from an earlier summary), replacing the one before. ODI01, ODI04, ODR01, ODL01';

create or replace function odl.odl_ai_messages(session_id text, after_seq integer default 0)
returns setof odl.ai_context_message
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    target odl.ai_sessions := odl.require_ai_session(odl_ai_messages.session_id, false);
begin
    return query
    select m.seq, m.role, m.content, m.tokens, m.tool_calls, m.tool_call_id, false
    from odl.ai_messages as m
    where m.tenant_id = target.tenant_id and m.session_id = target.session_id and m.created_at >= target.created_at
        and m.seq > coalesce(after_seq, 0)
    order by m.seq;
end
$$;

revoke all on function odl.odl_ai_messages(text, integer) from public;
grant execute on function odl.odl_ai_messages(text, integer) to odl_app;
comment on function odl.odl_ai_messages(text, integer) is
'The session''s stored messages after after_seq, in order: what an application summarises. ODI01, ODR01';

create or replace procedure odl.ai_maintenance()
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
-- pg_partman bounds new partitions in the session's time zone: UTC months.
set timezone = 'UTC'
as $$
declare
    partman_schema text;
    part record;
    inherited record;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_extension as e
    where e.extname = 'pg_partman';
    execute format('select %I.run_maintenance(p_parent_table := %L)', partman_schema, 'odl.ai_messages');
    for part in
        select c.oid, c.oid::regclass::text as name, c.relowner
        from pg_inherits as i
        inner join pg_class as c on i.inhrelid = c.oid
        where i.inhparent = 'odl.ai_messages'::regclass
    loop
        if part.relowner <> 'odl_owner'::regrole then
            execute format('alter table %s owner to odl_owner', part.name);
        end if;
        if exists (select from aclexplode((select c.relacl from pg_class as c where c.oid = part.oid)) as a
            where a.grantee <> 'odl_owner'::regrole)
        then
            execute format('revoke all on %s from public, odl_app, odl_admin, odl_analyst', part.name);
        end if;
        if obj_description(part.oid, 'pg_class') is null then
            execute format(
                'comment on table %s is %L', part.name,
                'Monthly partition of odl.ai_messages, made by pg_partman; read and written only through the parent'
            );
        end if;
        for inherited in
            select con.conname, obj_description(parent_con.oid, 'pg_constraint') as note
            from pg_constraint as con
            inner join pg_constraint as parent_con
                on parent_con.conrelid = 'odl.ai_messages'::regclass and con.conname = parent_con.conname
            where con.conrelid = part.oid
                and con.contype = 'c'
                and obj_description(con.oid, 'pg_constraint') is null
        loop
            execute format('comment on constraint %I on %s is %L', inherited.conname, part.name, inherited.note);
        end loop;
    end loop;
end
$$;

revoke all on procedure odl.ai_maintenance() from public;
comment on procedure odl.ai_maintenance() is -- noqa: LT01
'Makes the next months'' partitions of odl.ai_messages (pg_partman), gives them to odl_owner and comments them; '
'run it daily as a superuser, with odl.audit_maintenance()';

call odl.ai_maintenance();
