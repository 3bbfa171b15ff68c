-- The monthly-partitioned logs, their partitions and their retention
-- (change retention). pg_partman makes the partitions ahead (each log's
-- own maintenance, daily); odl.log_retention() retires old months on a
-- schedule of its own, by DETACH and DROP, never DELETE. Neither ever
-- lets rows into a default partition on purpose: with partitions made
-- ahead it stays empty, and odl_health() raises an alarm when it is not
-- (a row there makes pg_partman's next ATTACH scan it, and PostgreSQL
-- refuses DETACH ... CONCURRENTLY while a default partition exists, so
-- retention detaches under a lock timeout instead).

-- Every partition of the logs, read from the catalog: bounds parsed from
-- the partition bound expression, null for the default partition.
create or replace function odl.log_partitions()
returns table (table_name text, partition_name text, range_start timestamptz, range_end timestamptz)
language sql
stable
security invoker
set search_path = pg_catalog, pg_temp
as $$
    select
        p.table_name,
        c.oid::regclass::text,
        substring(pg_get_expr(c.relpartbound, c.oid) from $re$FROM \('([^']+)'\)$re$)::timestamptz,
        substring(pg_get_expr(c.relpartbound, c.oid) from $re$TO \('([^']+)'\)$re$)::timestamptz
    from odl.log_retention_policies as p
    inner join pg_inherits as i on i.inhparent = to_regclass(p.table_name)
    inner join pg_class as c on i.inhrelid = c.oid
    order by p.table_name, 3 nulls first
$$;

revoke all on function odl.log_partitions() from public;
comment on function odl.log_partitions() is
'Every partition of the monthly-partitioned logs with its range (null bounds: the default partition)';

-- Per log: how far ahead partitions exist, whether their bounds are UTC
-- months, and the rows in its default partition (an exact count: the
-- default partition is empty by construction, so counting it is cheap).
-- Runs as odl_owner, which owns the logs' partitions, except the audit
-- ledger's, whose count comes from odl_ledger's audit_partition_status().
create or replace function odl.log_partition_status()
returns table (
    table_name text,
    partitions integer,
    oldest_month timestamptz,
    partitions_until timestamptz,
    months_ahead integer,
    utc_months boolean,
    default_rows bigint,
    keep_months integer,
    months_to_retire integer
)
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    month_start constant timestamptz := date_trunc('month', now() at time zone 'UTC') at time zone 'UTC';
    log record;
    default_partition text;
begin
    for log in
        select
            p.table_name,
            p.keep_months,
            count(l.range_start)::integer as partitions,
            min(l.range_start) as oldest_month,
            max(l.range_end) as partitions_until,
            count(*) filter (where l.range_start > month_start)::integer as months_ahead,
            coalesce(bool_and(
                l.range_start = date_trunc('month', l.range_start at time zone 'UTC') at time zone 'UTC'
                and l.range_end = (date_trunc('month', l.range_start at time zone 'UTC') + interval '1 month')
                at time zone 'UTC'
            ) filter (where l.range_start is not null), true) as utc_months,
            count(*) filter (
                where l.range_end <= month_start - make_interval(months => p.keep_months)
            )::integer as months_to_retire,
            max(l.partition_name) filter (where l.range_start is null) as default_partition
        from odl.log_retention_policies as p
        left join odl.log_partitions() as l on p.table_name = l.table_name
        group by p.table_name, p.keep_months
        order by p.table_name
    loop
        table_name := log.table_name;
        partitions := log.partitions;
        oldest_month := log.oldest_month;
        partitions_until := log.partitions_until;
        months_ahead := log.months_ahead;
        utc_months := log.utc_months;
        keep_months := log.keep_months;
        months_to_retire := log.months_to_retire;
        default_partition := log.default_partition;
        if log.table_name = 'odl.audit_events' then
            select s.default_rows into default_rows from odl.audit_partition_status() as s;
        elsif default_partition is not null then
            execute format('select count(*) from only %s', default_partition) into default_rows;
        else
            default_rows := 0;
        end if;
        return next;
    end loop;
end
$$;

revoke all on function odl.log_partition_status() from public;
grant execute on function odl.log_partition_status() to odl_admin, odl_analyst;
comment on function odl.log_partition_status() is
'Per monthly-partitioned log: partitions, the oldest month, where they end, complete months made ahead of the '
'current one, whether every bound is a UTC month, rows in the default partition (should be 0), the months kept '
'and the months retention would drop now (odl_admin, odl_analyst)';

create or replace procedure odl.log_retention(lock_timeout interval default '5 seconds')
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    month_start constant timestamptz := date_trunc('month', now() at time zone 'UTC') at time zone 'UTC';
    part record;
    held text[] := '{}';
    hold text;
begin
    -- Writers queue behind a DETACH waiting for its lock: the wait is
    -- bounded, and a run that times out changes nothing (the next run
    -- tries again).
    perform set_config('lock_timeout', (extract(epoch from log_retention.lock_timeout) * 1000)::bigint || 'ms', true);
    for part in
        select l.table_name, l.partition_name, l.range_start, l.range_end
        from odl.log_partitions() as l
        inner join odl.log_retention_policies as p on l.table_name = p.table_name
        where p.keep_months is not null
            and l.range_end <= month_start - make_interval(months => p.keep_months)
        order by l.table_name, l.range_start
    loop
        -- A log whose month is held keeps it and every later one (oldest
        -- first), until the next run finds the hold gone.
        continue when part.table_name = any(held);
        if part.table_name = 'odl.audit_events' then
            perform odl.audit_anchor_month(part.partition_name);
        elsif part.table_name = 'odl.psu_ledger' then
            hold := odl.psu_ledger_month_hold(part.range_start, part.range_end);
            if hold is not null then
                held := held || part.table_name;
                raise warning using
                    message = format('%s is kept past its retention', part.partition_name),
                    detail = hold;
                continue;
            end if;
            perform odl.psu_ledger_retire_keys(part.range_start, part.range_end);
        elsif part.table_name = 'odl.epcis_events' then
            perform odl.epcis_retire_month(part.range_start, part.range_end);
        end if;
        execute format('alter table %s detach partition %s', part.table_name, part.partition_name);
        execute format('drop table %s', part.partition_name);
        raise notice 'retired %', part.partition_name;
    end loop;
end
$$;

revoke all on procedure odl.log_retention(interval) from public;
comment on procedure odl.log_retention(interval) is -- noqa: LT01
'Drops the partitions of each log older than its keep_months (odl.log_retention_policies), oldest first, by '
'DETACH and DROP under lock_timeout; audit months are verified and anchored first (ODT01, ODT02); a PSU ledger '
'month goes with its idempotency keys, unless odl.psu_ledger_month_hold() holds it (a warning says why); an EPCIS '
'month with what describes its events elsewhere (odl.epcis_retire_month()). One '
'transaction: nothing is dropped unless all is. Run it daily as a superuser, apart from the partition maintenance';

-- Premaking, for every log at once, with the session's time zone pinned to
-- UTC: pg_partman computes the bounds of new partitions in the session's
-- time zone, so a maintenance run under another one (a DBA's psql with
-- timezone = 'America/New_York') makes months that start at local midnight
-- and months of the wrong length, which odl_health() then reports.
create or replace procedure odl.log_maintenance()
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
set timezone = 'UTC'
as $$
begin
    call odl.audit_maintenance();
    call odl.epcis_maintenance();
    call odl.ai_maintenance();
    call odl.trace_maintenance();
    -- The PSU ledger is a partitioned log once change psu_ledger_v2 is
    -- deployed (its row in odl.log_retention_policies says so).
    if exists (select from odl.log_retention_policies as p where p.table_name = 'odl.psu_ledger') then
        call odl.psu_ledger_maintenance();
    end if;
end
$$;

revoke all on procedure odl.log_maintenance() from public;
comment on procedure odl.log_maintenance() is -- noqa: LT01
'Makes the next months'' partitions of every log (audit, EPCIS, AI messages, traces, PSU ledger) with pg_partman, '
'in UTC; '
'run it daily as a superuser, at another hour than odl.log_retention()';
