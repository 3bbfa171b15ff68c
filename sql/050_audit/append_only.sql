-- Audit events are never updated, deleted or truncated: their owner,
-- odl_ledger, holds no such privilege (changes audit and ledger_v2), and
-- these triggers refuse it for anyone who gets one back, superusers
-- included. A superuser can still switch triggers off
-- (session_replication_role = replica, or ALTER TABLE ... DISABLE TRIGGER);
-- odl_audit_verify() then finds what was changed.
--
-- pg_partman makes the monthly partitions. Row triggers of the parent reach
-- them by themselves; statement triggers (TRUNCATE above all), ownership,
-- privileges and comments do not, and audit_protect_partitions() adds them.
-- It also records each partition in odl.audit_partitions, so that a
-- partition dropped later is missed by verification.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODA01', 'append_only', 'Audit events are never updated, deleted or truncated'),
('ODA02', 'invalid_digest', 'The trusted digest is malformed or belongs to another tenant')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.audit_refuse_change()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception using
        errcode = 'ODA01',
        message = 'audit events are append-only',
        detail = format('%s on %s.%s refused', tg_op, tg_table_schema, tg_table_name),
        hint = 'Record a new event instead.';
end
$$;

alter function odl.audit_refuse_change() owner to odl_ledger;
revoke all on function odl.audit_refuse_change() from public;
comment on function odl.audit_refuse_change() is
'Trigger: refuses UPDATE, DELETE and TRUNCATE of audit events with ODA01';

create or replace trigger audit_events_append_only_row
before update or delete on odl.audit_events
for each row execute function odl.audit_refuse_change();

create or replace trigger audit_events_append_only
before update or delete or truncate on odl.audit_events
for each statement execute function odl.audit_refuse_change();

create or replace function odl.audit_protect_partitions()
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    part record;
    inherited record;
    changed integer := 0;
begin
    for part in
        select
            c.oid, c.oid::regclass::text as name, c.relowner,
            pg_get_expr(c.relpartbound, c.oid) as bound
        from pg_inherits as i
        inner join pg_class as c on i.inhrelid = c.oid
        where i.inhparent = 'odl.audit_events'::regclass
    loop
        -- Each step only when needed: most take locks that stall writers.
        if part.relowner <> 'odl_ledger'::regrole then
            execute format('alter table %s owner to odl_ledger', part.name);
        end if;
        if has_table_privilege('odl_ledger', part.oid, 'UPDATE, DELETE, TRUNCATE')
            or exists (select from aclexplode((select c.relacl from pg_class as c where c.oid = part.oid)) as a
                where a.grantee <> 'odl_ledger'::regrole)
        then
            execute format('revoke all on %s from public, odl_owner, odl_app, odl_admin, odl_analyst', part.name);
            execute format('revoke update, delete, truncate on %s from odl_ledger', part.name);
        end if;
        if not exists (
            select from pg_trigger as t where t.tgrelid = part.oid and t.tgname = 'audit_events_append_only'
        ) then
            execute format(
                'create trigger audit_events_append_only before update or delete or truncate on %s'
                ' for each statement execute function odl.audit_refuse_change()',
                part.name
            );
        end if;
        if obj_description(part.oid, 'pg_class') is null then
            execute format(
                'comment on table %s is %L', part.name,
                'Monthly partition of odl.audit_events, made by pg_partman; read and written only through the parent'
            );
        end if;
        -- Inherited CHECK constraints carry the parent's comment.
        for inherited in
            select con.conname, obj_description(parent_con.oid, 'pg_constraint') as note
            from pg_constraint as con
            inner join pg_constraint as parent_con
                on parent_con.conrelid = 'odl.audit_events'::regclass and con.conname = parent_con.conname
            where con.conrelid = part.oid
                and con.contype = 'c'
                and obj_description(con.oid, 'pg_constraint') is null
        loop
            execute format('comment on constraint %I on %s is %L', inherited.conname, part.name, inherited.note);
        end loop;
        insert into odl.audit_partitions (partition_name, range_start, range_end)
        values (
            part.name,
            substring(part.bound from $re$FROM \('([^']+)'\)$re$)::timestamptz,
            substring(part.bound from $re$TO \('([^']+)'\)$re$)::timestamptz
        )
        on conflict (partition_name) do nothing;
        changed := changed + 1;
    end loop;
    return changed;
end
$$;

alter function odl.audit_protect_partitions() owner to odl_ledger;
revoke all on function odl.audit_protect_partitions() from public;
comment on function odl.audit_protect_partitions() is
'Gives every partition of odl.audit_events to odl_ledger without UPDATE, DELETE or TRUNCATE, '
'adds the statement trigger that refuses them, comments it and records it in odl.audit_partitions; '
'returns the number of partitions';

create or replace procedure odl.audit_maintenance()
language plpgsql
security invoker
set search_path = pg_catalog, pg_temp
-- pg_partman bounds new partitions in the session's time zone: UTC months.
set timezone = 'UTC'
as $$
declare
    partman_schema text;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_extension as e
    where e.extname = 'pg_partman';
    execute format('select %I.run_maintenance(p_parent_table := %L)', partman_schema, 'odl.audit_events');
    perform odl.audit_protect_partitions();
end
$$;

alter procedure odl.audit_maintenance() owner to odl_ledger;
revoke all on procedure odl.audit_maintenance() from public;
comment on procedure odl.audit_maintenance() is -- noqa: LT01
'Makes the next months'' audit partitions (pg_partman), protects and records them; '
'run it daily as a superuser, e.g. from cron';

call odl.audit_maintenance();
