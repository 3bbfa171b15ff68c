-- How an AI session ends. Its user closes it (odl_ai_close_session), or it
-- expires ai_session_max_age after it opened (odl.settings, 24 hours: the
-- supplement's sessions of at most a day). Either way nothing more is
-- appended to it and its summary stays as it is: a trigger on the session
-- row says so, since every append and every summary updates that row under
-- its lock, whichever function wrote it. Reading a closed session's
-- messages and context still works until retention drops them.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODJ01', 'ai_session_closed', 'The AI session is closed or past its maximum age: nothing more can be added to it')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.ai_session_max_age()
returns interval
language sql
stable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select s.value::interval from odl.settings as s where s.name = 'ai_session_max_age'
$$;

revoke all on function odl.ai_session_max_age() from public;
comment on function odl.ai_session_max_age() is
'The setting ai_session_max_age: how long a session takes messages after it opened';

create or replace function odl.ai_session_guard()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if new.message_count = old.message_count and new.summary is not distinct from old.summary
        and new.summary_through_seq is not distinct from old.summary_through_seq
    then
        return new;
    end if;
    if old.closed_at is not null then
        raise exception using
            errcode = 'ODJ01',
            message = 'AI session is closed',
            detail = format('session_id %s was %s at %s', old.session_id, old.closed_reason, old.closed_at),
            hint = 'Open a new session; its summary can carry on from this one.';
    end if;
    if old.created_at < now() - odl.ai_session_max_age() then
        raise exception using
            errcode = 'ODJ01',
            message = 'AI session has expired',
            detail = format(
                'session_id %s opened at %s, more than %s ago', old.session_id, old.created_at,
                odl.ai_session_max_age()
            ),
            hint = 'Open a new session; its summary can carry on from this one.';
    end if;
    return new;
end
$$;

revoke all on function odl.ai_session_guard() from public;
comment on function odl.ai_session_guard() is
'Trigger of odl.ai_sessions: a message or summary for a closed session, or one past ai_session_max_age, raises '
'ODJ01, so the append or summary changes nothing';

create or replace trigger ai_sessions_guard
before update on odl.ai_sessions
for each row execute function odl.ai_session_guard();
comment on trigger ai_sessions_guard on odl.ai_sessions is
'Nothing is appended to, nor summarised in, a closed or expired session (ODJ01)';

create or replace function odl.odl_ai_close_session(session_id text)
returns timestamptz
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    target odl.ai_sessions := odl.require_ai_session(odl_ai_close_session.session_id, true);
begin
    -- Closing twice is a retry: the first close's time, no second event.
    if target.closed_at is not null then
        return target.closed_at;
    end if;
    update odl.ai_sessions as s
    set closed_at = now(),
        closed_reason = case when s.created_at < now() - odl.ai_session_max_age() then 'expired' else 'closed' end
    where s.tenant_id = target.tenant_id and s.session_id = target.session_id;
    perform odl.audit_append(
        'ai.session.closed',
        jsonb_build_object(
            'session_id', target.session_id, 'messages', target.message_count,
            'summary_through_seq', target.summary_through_seq
        ),
        target.project_id
    );
    return now();
end
$$;

revoke all on function odl.odl_ai_close_session(text) from public;
grant execute on function odl.odl_ai_close_session(text) to odl_app;
comment on function odl.odl_ai_close_session(text) is
'Closes the context user''s session: nothing more is appended to it (ODJ01); returns when it was closed, the '
'first close''s time on a retry. ODC01, ODI01, ODR01';
