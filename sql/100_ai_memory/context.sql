-- What to send to a model. The system message and the current turn (the
-- latest user message and all after it) are always sent; before them,
-- units (a message, or an assistant message with its tool results) are
-- kept newest first while they fit. When something must go and the
-- session has a summary that fits, the summary replaces everything it
-- covers and only units after it compete for the rest.

create or replace function odl.odl_ai_context(session_id text, token_budget integer)
returns setof odl.ai_context_message
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    target odl.ai_sessions := odl.require_ai_session(odl_ai_context.session_id, false);
    system_seq integer;
    system_tokens bigint := 0;
    turn_from integer;
    turn_tokens bigint;
    middle_tokens bigint;
    use_summary boolean := false;
    room bigint;
    keep_from integer;
begin
    if token_budget is null or token_budget < 0 then
        raise exception using
            errcode = '22023',
            message = 'token_budget must be a count of tokens, not negative',
            detail = format('token_budget %s', coalesce(token_budget::text, 'null'));
    end if;
    turn_from := coalesce(target.last_user_seq, target.message_count + 1);

    select m.seq, m.tokens into system_seq, system_tokens
    from odl.ai_messages as m
    where m.tenant_id = target.tenant_id and m.session_id = target.session_id and m.created_at >= target.created_at
        and m.seq = 1 and m.role = 'system';
    system_tokens := coalesce(system_tokens, 0);

    select
        coalesce(sum(m.tokens) filter (where m.seq >= turn_from), 0),
        coalesce(sum(m.tokens) filter (where m.seq < turn_from and m.role <> 'system'), 0)
    into turn_tokens, middle_tokens
    from odl.ai_messages as m
    where m.tenant_id = target.tenant_id and m.session_id = target.session_id and m.created_at >= target.created_at;

    if system_tokens + turn_tokens > token_budget then
        raise exception using
            errcode = 'ODI05',
            message = 'the system message and the current turn exceed the token budget',
            detail = format(
                'session_id %s: system message %s tokens, current turn (from message %s) %s tokens, budget %s',
                target.session_id, system_tokens, turn_from, turn_tokens, token_budget
            ),
            hint = 'Raise the budget, or shorten the system message or the current turn.';
    end if;

    if system_tokens + turn_tokens + middle_tokens <= token_budget then
        keep_from := 1;
    else
        use_summary := target.summary is not null
            and system_tokens + turn_tokens + target.summary_tokens <= token_budget;
        room := token_budget - system_tokens - turn_tokens - case when use_summary then target.summary_tokens else 0 end;
        -- The longest run of whole units, newest first, that fits in room
        -- (token counts are not negative, so the running sum only grows).
        select min(u.unit) into keep_from
        from (
            select g.unit, sum(g.tokens) over (order by g.unit desc) as running
            from (
                select coalesce(m.call_seq, m.seq) as unit, sum(m.tokens) as tokens
                from odl.ai_messages as m
                where m.tenant_id = target.tenant_id and m.session_id = target.session_id
                    and m.created_at >= target.created_at
                    and m.seq < turn_from and m.role <> 'system'
                    and (not use_summary or m.seq > target.summary_through_seq)
                group by coalesce(m.call_seq, m.seq)
            ) as g
        ) as u
        where u.running <= room;
        keep_from := coalesce(keep_from, turn_from);
    end if;

    return query
    select m.seq, m.role, m.content, m.tokens, m.tool_calls, m.tool_call_id, false
    from odl.ai_messages as m
    where m.tenant_id = target.tenant_id and m.session_id = target.session_id and m.created_at >= target.created_at
        and m.seq = system_seq
    union all
    select null, 'system', target.summary, target.summary_tokens, null, null, true
    where use_summary
    union all
    (
        select m.seq, m.role, m.content, m.tokens, m.tool_calls, m.tool_call_id, false
        from odl.ai_messages as m
        where m.tenant_id = target.tenant_id and m.session_id = target.session_id
            and m.created_at >= target.created_at
            and m.seq >= keep_from and m.role <> 'system'
        order by m.seq
    );
end
$$;

revoke all on function odl.odl_ai_context(text, integer) from public;
grant execute on function odl.odl_ai_context(text, integer) to odl_app;
comment on function odl.odl_ai_context(text, integer) is
'The messages to send, in order, whose tokens (the caller''s counts) sum to at most token_budget: the system '
'message, the session''s summary when older messages must go and it fits (is_summary, in place of all it covers), '
'the newest earlier messages that fit, never a tool call without its results, and the current turn (the latest '
'user message and all after it). ODI05 when the system message and the current turn alone exceed the budget; '
'ODI01, ODR01, 22023';
