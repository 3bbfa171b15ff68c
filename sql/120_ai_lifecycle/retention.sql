-- Retention of AI sessions by whole partitions. Messages live in monthly
-- partitions of odl.ai_messages (by created_at); a month is dropped once it
-- is wholly older than ai_message_retention (30 days: the supplement's
-- episodic records), which leaves no dead tuple behind, where a DELETE
-- would leave one per message. The sessions that began before the oldest
-- month kept go with it: their few messages in the next month (a session
-- takes messages for ai_session_max_age at most) are deleted with them, so
-- no session is ever left with part of its conversation. Every session is
-- kept at least the retention, at most a month longer.

create or replace function odl.ai_retention(keep interval default null)
returns table (expired_sessions bigint, dropped_partitions integer, deleted_sessions bigint)
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    partman_schema text;
    kept interval := coalesce(
        ai_retention.keep,
        (select s.value::interval from odl.settings as s where s.name = 'ai_message_retention')
    );
    cutoff timestamptz;
    boundary timestamptz;
    part record;
    tenant record;
begin
    if kept is null or kept < interval '1 day' then
        raise exception using
            errcode = '22023',
            message = 'AI messages are kept at least a day',
            detail = format('keep %s', coalesce(kept::text, 'null'));
    end if;
    if not (select r.rolsuper from pg_roles as r where r.rolname = current_user) then
        raise exception using
            errcode = '42501',
            message = 'permission denied: AI retention runs as a superuser',
            detail = format('current_user %s', current_user),
            hint = 'Schedule it with odl.ai_maintenance(), as a superuser.';
    end if;
    cutoff := now() - kept;
    expired_sessions := 0;
    dropped_partitions := 0;
    deleted_sessions := 0;
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_extension as e
    where e.extname = 'pg_partman';

    -- Sessions past their maximum age are closed, each tenant audited once.
    for tenant in
        with expired as (
            update odl.ai_sessions as s
            set closed_at = now(), closed_reason = 'expired'
            where s.closed_at is null and s.created_at < now() - odl.ai_session_max_age()
                -- A tenant on its way to another region is left to its new one.
                and not exists (select from odl.tenant_departures as d where d.tenant_id = s.tenant_id)
            returning s.tenant_id, s.session_id
        )
        select x.tenant_id, count(*) as sessions from expired as x group by x.tenant_id
    loop
        perform odl.audit_append_as(
            tenant.tenant_id, null, 'ai.sessions.expired',
            jsonb_build_object('sessions', tenant.sessions, 'max_age', odl.ai_session_max_age())
        );
        expired_sessions := expired_sessions + tenant.sessions;
    end loop;

    for part in
        execute format(
            'select q.name, i.child_start_time, i.child_end_time'
            ' from pg_inherits as h inner join pg_class as c on h.inhrelid = c.oid,'
            ' lateral (select format(%L, c.relnamespace::regnamespace, c.relname) as name) as q,'
            ' lateral %I.show_partition_info(q.name, p_parent_table := %L) as i'
            ' where h.inhparent = %L::regclass and c.relname <> %L order by i.child_start_time',
            '%s.%I', partman_schema, 'odl.ai_messages', 'odl.ai_messages', 'ai_messages_default'
        )
    loop
        if part.child_end_time <= cutoff then
            execute format('drop table %s', part.name);
            dropped_partitions := dropped_partitions + 1;
        else
            boundary := part.child_start_time;
            exit;
        end if;
    end loop;

    -- The sessions that began before the oldest month kept.
    if boundary <= cutoff then
        for tenant in
            with deleted as (
                delete from odl.ai_sessions as s
                where s.created_at < boundary
                    and not exists (select from odl.tenant_departures as d where d.tenant_id = s.tenant_id)
                returning s.tenant_id
            )
            select d.tenant_id, count(*) as sessions from deleted as d group by d.tenant_id
        loop
            perform odl.audit_append_as(
                tenant.tenant_id, null, 'ai.sessions.deleted',
                jsonb_build_object('sessions', tenant.sessions, 'created_before', boundary, 'retention', kept)
            );
            deleted_sessions := deleted_sessions + tenant.sessions;
        end loop;
    end if;
    return next;
end
$$;

revoke all on function odl.ai_retention(interval) from public;
comment on function odl.ai_retention(interval) is
'Closes sessions past ai_session_max_age (expired), drops the months of messages wholly older than keep '
'(default: the setting ai_message_retention) and deletes the sessions that began before the oldest month kept; '
'audits each tenant''s counts. Run it daily as a superuser, after odl.ai_maintenance()';
