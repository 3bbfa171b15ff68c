-- Backups and restore drills, as their jobs report them: the backup job
-- after `pgbackrest backup` (and `verify`), the drill (scripts/drill
-- --record) after its checks. odl_health() reads the latest of each.

create or replace function odl.odl_record_backup(
    kind text,
    ok boolean,
    finished_at timestamptz default now(),
    details jsonb default '{}'
)
returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    new_id bigint;
begin
    if kind is null or ok is null or finished_at is null then
        raise exception using
            errcode = '22004',
            message = format('%s must not be null', case
                when kind is null then 'kind' when ok is null then 'ok' else 'finished_at'
            end);
    end if;
    if kind not in ('backup', 'drill') then
        raise exception using
            errcode = '22023',
            message = 'unknown backup kind',
            detail = format('kind %s', quote_literal(kind)),
            hint = 'Record a backup or a drill.';
    end if;
    if jsonb_typeof(coalesce(details, '{}')) <> 'object' or length(details::text) > 65536 then
        raise exception using
            errcode = '22023',
            message = 'backup details must be a JSON object of at most 64 kB',
            detail = format('details of %s bytes', length(details::text));
    end if;
    insert into odl.backup_runs (kind, ok, finished_at, details)
    values (odl_record_backup.kind, odl_record_backup.ok, odl_record_backup.finished_at, coalesce(details, '{}'))
    returning run_id into new_id;
    return new_id;
end
$$;

revoke all on function odl.odl_record_backup(text, boolean, timestamptz, jsonb) from public;
grant execute on function odl.odl_record_backup(text, boolean, timestamptz, jsonb) to odl_admin;
comment on function odl.odl_record_backup(text, boolean, timestamptz, jsonb) is
'Records a backup or a restore drill and whether it succeeded, for odl_health() and odl.ops_backups; returns its '
'run_id (odl_admin; 22004 for a null argument, 22023 for another kind or details that are not an object)';

create or replace function odl.backup_status()
returns table (
    kind text,
    last_run_at timestamptz,
    last_ok boolean,
    last_ok_at timestamptz,
    age_seconds numeric,
    details jsonb
)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select
        k.kind,
        l.finished_at,
        l.ok,
        g.finished_at,
        round(extract(epoch from now() - g.finished_at)::numeric, 1),
        l.details
    from (values ('backup'), ('drill')) as k (kind)
    left join lateral (
        select b.finished_at, b.ok, b.details
        from odl.backup_runs as b
        where b.kind = k.kind
        order by b.finished_at desc, b.run_id desc
        limit 1
    ) as l on true
    left join lateral (
        select b.finished_at
        from odl.backup_runs as b
        where b.kind = k.kind and b.ok
        order by b.finished_at desc
        limit 1
    ) as g on true
$$;

revoke all on function odl.backup_status() from public;
grant execute on function odl.backup_status() to odl_admin, odl_analyst;
comment on function odl.backup_status() is
'The latest backup and drill: when, whether it succeeded, the latest that did and its age in seconds, and its '
'details (odl_admin, odl_analyst)';
