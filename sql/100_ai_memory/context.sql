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
    -- The session's messages in order (seq i is element i), read once.
    roles text [];
    counts integer [];
    units integer [];
    system_seq integer;
    system_tokens bigint := 0;
    turn_from integer;
    turn_tokens bigint := 0;
    middle_tokens bigint := 0;
    use_summary boolean := false;
    room bigint;
    keep_from integer;
    i integer;
    unit_tokens bigint;
begin
    if token_budget is null or token_budget < 0 then
        raise exception using
            errcode = '22023',
            message = 'token_budget must be a count of tokens, not negative',
            detail = format('token_budget %s', coalesce(token_budget::text, 'null'));
    end if;
    turn_from := coalesce(target.last_user_seq, target.message_count + 1);

    select
        coalesce(array_agg(m.role order by m.seq), '{}'),
        coalesce(array_agg(m.tokens order by m.seq), '{}'),
        coalesce(array_agg(coalesce(m.call_seq, m.seq) order by m.seq), '{}')
    into roles, counts, units
    from odl.ai_messages as m
    where m.tenant_id = target.tenant_id and m.session_id = target.session_id and m.created_at >= target.created_at;

    if roles[1] = 'system' then
        system_seq := 1;
        system_tokens := counts[1];
    end if;
    for i in coalesce(system_seq, 0) + 1 .. cardinality(roles) loop
        if i >= turn_from then
            turn_tokens := turn_tokens + counts[i];
        else
            middle_tokens := middle_tokens + counts[i];
        end if;
    end loop;

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

    keep_from := 1;
    if system_tokens + turn_tokens + middle_tokens > token_budget then
        use_summary := target.summary is not null
            and system_tokens + turn_tokens + target.summary_tokens <= token_budget;
        room := token_budget - system_tokens - turn_tokens - case when use_summary then target.summary_tokens else 0 end;
        -- Whole units, newest first, while they fit (a unit is a message,
        -- or an assistant message and its tool results, contiguous); with
        -- the summary, only units after it.
        keep_from := turn_from;
        i := turn_from - 1;
        while i > coalesce(system_seq, 0) and (not use_summary or units[i] > target.summary_through_seq) loop
            unit_tokens := 0;
            for j in units[i] .. i loop
                unit_tokens := unit_tokens + counts[j];
            end loop;
            exit when unit_tokens > room;
            room := room - unit_tokens;
            keep_from := units[i];
            i := units[i] - 1;
        end loop;
    end if;

    return query
    select x.seq, x.role, x.content, x.tokens, x.tool_calls, x.tool_call_id, x.is_summary
    from (
        select m.seq, m.role, m.content, m.tokens, m.tool_calls, m.tool_call_id, false as is_summary
        from odl.ai_messages as m
        where m.tenant_id = target.tenant_id and m.session_id = target.session_id
            and m.created_at >= target.created_at
            and (m.seq >= keep_from or m.seq = system_seq)
        union all
        select null, 'system', target.summary, target.summary_tokens, null, null, true
        where use_summary
    ) as x
    -- The system message, then the summary, then the rest in order.
    order by coalesce(x.seq, 1), x.is_summary;
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
