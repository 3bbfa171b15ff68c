-- What a DBA watches, in one place: odl_health() returns one row per check
-- with a status (ok, warning, critical, unknown), the numbers behind it as
-- jsonb and a hint saying what to do. It runs as its caller, so what it sees
-- of other sessions (how long their transactions have been open) is what
-- the caller may see: a DBA's login needs pg_monitor. The facts only the
-- ledger or the owner may read come from the definer functions below,
-- which return counts and times, never a row of tenant data.

-- The ledger's side: owned by odl_ledger, like the ledger's other
-- functions, with search_path pinned to pg_catalog and pg_temp; they read
-- the ledger's tables through its policy ledger_owner and call nothing
-- odl_owner owns.
create or replace function odl.audit_export_status()
returns table (
    tenant_id text,
    head_seq bigint,
    exported_seq bigint,
    last_export_at timestamptz,
    uncovered_since timestamptz
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select
        h.tenant_id::text,
        h.seq,
        coalesce(d.seq, 0),
        d.issued_at,
        case when h.seq > coalesce(d.seq, 0) then
            (
                select e.created_at
                from odl.audit_events as e
                where e.tenant_id = h.tenant_id and e.seq = coalesce(d.seq, 0) + 1
            )
        end
    from odl.audit_heads as h
    left join lateral (
        select max(g.seq) as seq, max(g.issued_at) as issued_at
        from odl.audit_digests as g
        where g.tenant_id = h.tenant_id
    ) as d on true
    order by h.tenant_id
$$;

alter function odl.audit_export_status() owner to odl_ledger;
revoke all on function odl.audit_export_status() from public;
grant execute on function odl.audit_export_status() to odl_admin;
comment on function odl.audit_export_status() is
'Per tenant: the chain''s head, the latest seq a digest was issued for, when, and the time of the oldest event no '
'issued digest covers (null when the chain is covered); for odl_health() (odl_ledger; odl_admin may execute)';

create or replace function odl.audit_partition_status(
    out partitions_until timestamptz,
    out default_rows bigint,
    out missing_partitions text[]
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    first_start timestamptz;
begin
    select max(p.range_end), min(p.range_start) into partitions_until, first_start
    from odl.audit_partitions as p
    where to_regclass(p.partition_name) is not null;
    -- Events outside every range land in the default partition: only when
    -- the maintenance has not made the month's partition in time. Pruning
    -- reads the default partition alone.
    select count(*) into default_rows
    from odl.audit_events as e
    where partitions_until is null or e.created_at >= partitions_until or e.created_at < first_start;
    -- Months that retention anchored and dropped are not missing.
    select coalesce(array_agg(p.partition_name order by p.partition_name), '{}') into missing_partitions
    from odl.audit_partitions as p
    where to_regclass(p.partition_name) is null
        and not exists (select from odl.audit_retired_partitions as r where r.partition_name = p.partition_name);
end
$$;

alter function odl.audit_partition_status() owner to odl_ledger;
revoke all on function odl.audit_partition_status() from public;
grant execute on function odl.audit_partition_status() to odl_admin, odl_owner;
comment on function odl.audit_partition_status() is
'The audit ledger''s partitions: the end of the last one made, the events that fell into the default partition, '
'and the partitions recorded in odl.audit_partitions that are gone but not retired; for odl_health() and '
'odl.log_partition_status() (odl_ledger; odl_admin and odl_owner may execute)';

-- The database-wide switches, as odl_limits() lists the limits.
create or replace function odl.odl_settings()
returns table (name text, value text, description text)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select s.name, s.value, s.description from odl.settings as s order by s.name
$$;

revoke all on function odl.odl_settings() from public;
grant execute on function odl.odl_settings() to odl_admin;
comment on function odl.odl_settings() is
'The database-wide switches of odl.settings (token mode) and their values (odl_admin)';

create or replace function odl.odl_health(
    transaction_age interval default '5 minutes',
    export_age interval default '15 minutes',
    partitions_ahead interval default '30 days',
    dead_tuple_ratio double precision default 0.2
)
returns table (check_name text, status text, value jsonb, hint text)
language sql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    with export as (
        select
            count(*) as chains,
            count(*) filter (where s.uncovered_since is not null) as behind,
            min(s.uncovered_since) as oldest_uncovered,
            max(s.last_export_at) as last_export
        from odl.audit_export_status() as s
    ),

    partitions as (
        select
            p.partitions_until,
            p.default_rows,
            p.missing_partitions
        from odl.audit_partition_status() as p
    ),

    -- Transactions of this database that hold an xid hold back the change
    -- feed (odl.change_feed_horizon()), but for autovacuum's (no user);
    -- prepared transactions hold theirs until committed.
    xid_holders as (
        select
            a.pid,
            a.datname::text as database,
            a.usename::text as role,
            age(a.backend_xid) as xid_age,
            round(extract(epoch from now() - a.xact_start), 1) as seconds,
            false as prepared
        from pg_stat_activity as a
        where a.backend_xid is not null and a.pid <> pg_backend_pid() and a.datname = current_database()
            and a.usesysid is not null
        union all
        select
            null,
            x.database::text,
            x.owner::text,
            age(x.transaction),
            round(extract(epoch from now() - x.prepared), 1),
            true
        from pg_prepared_xacts as x
        where x.database = current_database()
    ),

    horizon as (
        select h.*
        from xid_holders as h
        order by h.xid_age desc
        limit 1
    ),

    -- Snapshots (backend_xmin) in this database keep vacuum from freeing
    -- the old versions of documents.
    snapshot_holders as (
        select
            a.pid,
            a.usename::text as role,
            age(a.backend_xmin) as xmin_age,
            round(extract(epoch from now() - a.xact_start), 1) as seconds
        from pg_stat_activity as a
        where a.backend_xmin is not null
            and a.pid <> pg_backend_pid()
            and a.datname = current_database()
        order by age(a.backend_xmin) desc
        limit 1
    ),

    storage as (
        select
            t.relid = 'odl.odl_documents'::regclass as main,
            jsonb_build_object(
                'live_tuples', t.n_live_tup,
                'dead_tuples', t.n_dead_tup,
                'dead_ratio', round((t.n_dead_tup::numeric / greatest(t.n_live_tup + t.n_dead_tup, 1)), 3),
                'bytes', pg_total_relation_size(t.relid),
                'last_vacuum', greatest(t.last_vacuum, t.last_autovacuum)
            ) as stats,
            t.n_dead_tup > 50
            and t.n_dead_tup::double precision / greatest(t.n_live_tup + t.n_dead_tup, 1) > dead_tuple_ratio as bloated
        from pg_stat_all_tables as t
        where t.relid in (
            select c.oid from pg_class as c where c.oid = 'odl.odl_documents'::regclass
            union all
            select c.reltoastrelid from pg_class as c where c.oid = 'odl.odl_documents'::regclass
        )
    ),

    -- The cache limit of a backend: its role's setting in this database,
    -- its role's setting, the database's, the server's, 256.
    app_backends as (
        select coalesce(
            (
                select split_part(cfg, '=', 2)
                from pg_db_role_setting as s
                cross join unnest(s.setconfig) as cfg
                where cfg like 'odl.document\_cache\_mb=%'
                    and (s.setrole, s.setdatabase) in (
                        (a.usesysid, a.datid), (a.usesysid, 0::oid), (0::oid, a.datid)
                    )
                order by s.setrole = 0, s.setdatabase = 0
                limit 1
            ),
            (select nullif(g.setting, '') from pg_settings as g where g.name = 'odl.document_cache_mb'),
            '256'
        )::bigint as limit_mb
        from pg_stat_activity as a
        where a.datname = current_database()
            and pg_has_role(a.usesysid, 'odl_app', 'member')
    ),

    findings as (
        select f.finding from odl.odl_security_audit() as f
    ),

    logs as (
        select
            coalesce(jsonb_agg(to_jsonb(s) order by s.table_name), '[]') as stats,
            coalesce(sum(s.default_rows), 0) as default_rows,
            bool_and(s.utc_months) as utc_months,
            array_agg(s.table_name order by s.table_name) filter (
                where s.partitions_until is null or s.partitions_until < now() + partitions_ahead
            ) as short,
            array_agg(s.table_name order by s.table_name) filter (where s.default_rows > 0) as overflowing
        from odl.log_partition_status() as s
    ),

    latency as (
        select
            odl.function_timings_source() as source,
            coalesce(
                jsonb_object_agg(l.function_name, jsonb_build_object(
                    'calls', l.calls, 'mean_ms', round(l.mean_ms::numeric, 3), 'p50_ms', round(l.p50_ms::numeric, 3),
                    'p95_ms', round(l.p95_ms::numeric, 3)
                )) filter (where l.function_name is not null),
                '{}'
            ) as functions,
            max(l.last_sample) as last_sample
        from (select) as one
        left join odl.function_latency('24 hours') as l on true
    ),

    backups as (
        select
            max(b.last_ok_at) filter (where b.kind = 'backup') as backup_at,
            max(b.age_seconds) filter (where b.kind = 'backup') as backup_age,
            bool_or(b.last_ok) filter (where b.kind = 'drill') as drill_ok,
            max(b.last_run_at) filter (where b.kind = 'drill') as drill_at,
            max(b.age_seconds) filter (where b.kind = 'drill') as drill_age,
            max(b.details::text) filter (where b.kind = 'drill')::jsonb as drill_details
        from odl.backup_status() as b
    )

    select
        'audit_digest_export',
        case
            when e.oldest_uncovered < now() - export_age then 'critical'
            else 'ok'
        end,
        jsonb_build_object(
            'chains', e.chains,
            'chains_behind', e.behind,
            'oldest_uncovered_event', e.oldest_uncovered,
            'uncovered_seconds', round(extract(epoch from now() - e.oldest_uncovered), 1),
            'last_export', e.last_export,
            'seconds_since_export', round(extract(epoch from now() - e.last_export), 1)
        ),
        case
            when e.oldest_uncovered < now() - export_age then
                format(
                    'events of %s chains are covered by no digest for more than %s: run scripts/export-digests '
                    'export from cron every few minutes as a member of odl_admin', e.behind, export_age
                )
            else 'every event older than ' || export_age || ' is covered by an exported digest'
        end
    from export as e

    union all

    select
        'audit_partitions',
        case
            when cardinality(p.missing_partitions) > 0 or p.default_rows > 0 then 'critical'
            when p.partitions_until is null or p.partitions_until < now() + partitions_ahead then 'warning'
            else 'ok'
        end,
        jsonb_build_object(
            'partitions_until', p.partitions_until,
            'days_ahead', round((extract(epoch from p.partitions_until - now()) / 86400)::numeric, 1),
            'default_partition_rows', p.default_rows,
            'missing_partitions', to_jsonb(p.missing_partitions)
        ),
        case
            when cardinality(p.missing_partitions) > 0 then
                'recorded partitions are gone, so every chain that could have had events in them fails '
                'verification: restore them from a backup'
            when p.default_rows > 0 then
                'events fell into the default partition: call odl.audit_maintenance() as a superuser, and '
                'schedule it daily'
            when p.partitions_until is null or p.partitions_until < now() + partitions_ahead then
                'partitions end within ' || partitions_ahead || ': call odl.audit_maintenance() daily as a superuser'
            else 'partitions are made ahead; odl.audit_maintenance() runs as it should'
        end
    from partitions as p

    union all

    select
        'log_partitions',
        case
            when l.default_rows > 0 or not l.utc_months then 'critical'
            when l.short is not null then 'warning'
            else 'ok'
        end,
        jsonb_build_object('logs', l.stats, 'default_partition_rows', l.default_rows),
        case
            when l.default_rows > 0 then
                format(
                    'rows fell into the default partition of %s: run its maintenance (odl.audit_maintenance(), '
                    'odl.epcis_maintenance(), odl.ai_maintenance(), odl.trace_maintenance(), '
                    'odl.psu_ledger_maintenance(); odl.log_maintenance() runs them all) daily as a superuser; '
                    'pg_partman''s partition_data_time() moves the rows into their month',
                    array_to_string(l.overflowing, ', ')
                )
            when not l.utc_months then 'a partition''s bounds are not a UTC month: run the maintenance with timezone UTC'
            when l.short is not null then
                format(
                    'partitions of %s end within %s: run their maintenance daily as a superuser',
                    array_to_string(l.short, ', '), partitions_ahead
                )
            else 'every log has partitions made ahead and an empty default partition'
        end
    from logs as l

    union all

    select
        'function_latency',
        case when t.source is null then 'unknown' else 'ok' end,
        jsonb_build_object('source', t.source, 'last_sample', t.last_sample, 'functions', t.functions),
        case
            when t.source is null then
                'nothing counts function calls: load pg_stat_statements (shared_preload_libraries, then create '
                'extension pg_stat_statements) or set track_functions = all, and run '
                'odl_sample_function_timings() every minute'
            else
                'p50/p95 are call-weighted percentiles of the mean latency per sampling interval, over 24 hours; '
                'run odl_sample_function_timings() every minute'
        end
    from latency as t

    union all

    select
        'backups',
        case
            when b.drill_ok = false then 'critical'
            when b.backup_at is null or b.backup_age > 26 * 3600 then 'warning'
            when b.drill_at is null or b.drill_age > 8 * 86400 then 'warning'
            else 'ok'
        end,
        jsonb_build_object(
            'last_backup', b.backup_at,
            'backup_age_seconds', b.backup_age,
            'last_drill', b.drill_at,
            'drill_ok', b.drill_ok,
            'drill_age_seconds', b.drill_age,
            'drill', b.drill_details
        ),
        case
            when b.drill_ok = false then 'the last restore drill failed: its details say which check; run scripts/drill'
            when b.backup_at is null then 'no backup is recorded: call odl_record_backup(''backup'', true) after each'
            when b.backup_age > 26 * 3600 then 'the last good backup is older than 26 hours'
            when b.drill_at is null then 'no restore drill is recorded: run scripts/drill --record weekly'
            when b.drill_age > 8 * 86400 then 'the last restore drill is older than 8 days: run scripts/drill --record'
            else 'a backup within 26 hours and a passing drill within 8 days'
        end
    from backups as b

    union all

    select
        'change_feed_horizon',
        case
            when h.xid_age is null then 'ok'
            when h.seconds is null then 'unknown'
            when h.seconds > extract(epoch from transaction_age) then 'critical'
            else 'ok'
        end,
        to_jsonb(h),
        case
            when h.xid_age is null then 'no transaction holds an xid'
            when h.seconds is null then
                'the oldest transaction holding an xid belongs to a role whose activity this login may not see: '
                'grant pg_monitor to it'
            when h.seconds > extract(epoch from transaction_age) then
                format(
                    'a transaction (%s) has held an xid for %s s: odl_changes_since() serves no change written '
                    'after it began until it ends', coalesce('pid ' || h.pid, 'prepared'), h.seconds
                )
            else 'no transaction has held an xid for more than ' || transaction_age
        end
    from (select) as one
    left join horizon as h on true

    union all

    select
        'vacuum_horizon',
        case
            when s.xmin_age is null then 'ok'
            when s.seconds is null then 'unknown'
            when s.seconds > extract(epoch from transaction_age) then 'warning'
            else 'ok'
        end,
        to_jsonb(s),
        case
            when s.xmin_age is null then 'no snapshot is held in this database'
            when s.seconds is null then
                'the oldest snapshot belongs to a role whose activity this login may not see: grant pg_monitor to it'
            when s.seconds > extract(epoch from transaction_age) then
                format(
                    'pid %s has held a snapshot for %s s: vacuum cannot free the document versions written since',
                    s.pid, s.seconds
                )
            else 'no snapshot is older than ' || transaction_age
        end
    from (select) as one
    left join snapshot_holders as s on true

    union all

    select
        'document_bloat',
        case when bool_or(t.bloated) then 'warning' else 'ok' end,
        jsonb_build_object(
            'odl_documents', max(t.stats::text) filter (where t.main)::jsonb,
            'toast', max(t.stats::text) filter (where not t.main)::jsonb
        ),
        case
            when bool_or(t.bloated) then
                'more than ' || dead_tuple_ratio || ' of odl.odl_documents (or its TOAST) is dead: look at '
                'vacuum_horizon, and lower autovacuum_naptime where documents are patched often'
            else 'autovacuum keeps up with the documents'
        end
    from storage as t

    union all

    select
        'document_cache',
        'ok',
        jsonb_build_object(
            'application_backends', count(*),
            'limit_mb_per_backend', coalesce(jsonb_agg(distinct b.limit_mb), '[]'),
            'worst_case_mb', coalesce(sum(b.limit_mb), 0)
        ),
        'each application backend may cache up to its odl.document_cache_mb of documents; set it per login role '
        '(alter role LOGIN set odl.document_cache_mb = 64): a group role''s setting does not reach its members'
    from app_backends as b

    union all

    select
        'limits',
        'ok',
        jsonb_object_agg(l.name, l.value order by l.name),
        'the limits every caller is held to (odl_limits()); a DBA changes one with update odl.limits'
    from odl.odl_limits() as l

    union all

    select
        'token_mode',
        'ok',
        jsonb_build_object('require_context_token', s.value),
        case s.value
            when 'on' then 'applications need a token from the login service for every context'
            else
                'off: any login in odl_app may act for any user of any tenant; '
                || 'update odl.settings set value = ''on'' where name = ''require_context_token'' to require tokens'
        end
    from odl.odl_settings() as s
    where s.name = 'require_context_token'

    union all

    select
        'security_audit',
        case when count(*) > 0 then 'critical' else 'ok' end,
        jsonb_build_object(
            'findings', count(*),
            'kinds', coalesce(jsonb_agg(distinct f.finding), '[]')
        ),
        case
            when count(*) > 0 then 'select * from odl.odl_security_audit() lists them'
            else 'odl_security_audit() finds nothing'
        end
    from findings as f

    union all

    select
        'session_contexts',
        case when t.n_live_tup > 0 or pg_relation_size(t.relid) > 0 then 'warning' else 'ok' end,
        jsonb_build_object('rows', t.n_live_tup, 'bytes', pg_relation_size(t.relid)),
        'odl.session_contexts is no longer written (contexts are transaction-local settings now); rows left from '
        'v0.1.0 are dead weight: truncate odl.session_contexts'
    from pg_stat_all_tables as t
    where t.relid = to_regclass('odl.session_contexts')
$$;

revoke all on function odl.odl_health(interval, interval, interval, double precision) from public;
grant execute on function odl.odl_health(interval, interval, interval, double precision) to odl_admin;
comment on function odl.odl_health(interval, interval, interval, double precision) is
'What a DBA watches, one row per check with status ok, warning, critical or unknown, its numbers and a hint: '
'digest export, audit partitions, every log''s partitions, odl_ function latency, backups and drills, '
'the change feed and vacuum horizons, document bloat, the document cache, '
'limits, token mode, the security audit, session_contexts (odl_admin; durations of other roles'' transactions '
'need pg_monitor)';
