-- Retention and the operations figures: the anchors' shape and guards, the
-- order in which audit months may be retired, every log's partitions made
-- ahead in UTC months whatever the session's time zone, and the backup
-- record's errors. Retiring 24 planted months is tests/python/test_retention.py.
begin;
select plan(22);

select has_table('odl', 'audit_anchors', 'anchors of retired audit months');
select policies_are('odl', 'audit_anchors', array['tenant_isolation', 'ledger_owner']);
select ok(
    (
        select c.relrowsecurity and c.relforcerowsecurity from pg_catalog.pg_class as c
        where c.oid = 'odl.audit_anchors'::regclass
    ),
    'audit_anchors has enabled and forced RLS'
);
select table_owner_is('odl', 'audit_anchors', 'odl_ledger', 'the ledger owns its anchors');
select table_owner_is('odl', 'audit_retired_partitions', 'odl_ledger', 'the ledger records retired months');
select table_privs_are(
    'odl', 'audit_anchors', 'odl_ledger', array['SELECT', 'INSERT', 'REFERENCES', 'TRIGGER'],
    'anchors are never updated or deleted, by their owner either'
);
select table_privs_are('odl', 'audit_anchors', 'odl_owner', array['SELECT'], 'odl_owner only reads anchors');

select results_eq(
    $$select table_name, keep_months from odl.log_retention_policies order by table_name$$,
    $$
        values
        ('odl.ai_messages', null::integer), ('odl.audit_events', null), ('odl.epcis_events', null),
        ('odl.psu_ledger', 84), ('odl.tool_call_traces', 13)
    $$,
    'every partitioned log has a retention policy; only traces and (after 7 years) PSU entries are dropped'
);
select lives_ok(
    $$update odl.log_retention_policies set keep_months = 12 where table_name = 'odl.epcis_events'$$,
    'EPCIS events may be retired: odl.epcis_retire_month() takes their rows in the index tables along'
);
update odl.log_retention_policies set keep_months = null where table_name = 'odl.epcis_events';
select throws_ok(
    $$update odl.log_retention_policies set keep_months = 12 where table_name = 'odl.ai_messages'$$,
    '23514', null,
    'AI messages are retired with their sessions by odl.ai_retention(), not here'
);
select is(
    (select p.retention from partman.part_config as p where p.parent_table = 'odl.tool_call_traces'),
    null,
    'pg_partman''s own retention no longer runs in the traces'' maintenance'
);

select throws_ok(
    $$select odl.audit_anchor_month('odl.audit_events_default')$$,
    'ODT02', 'not a monthly partition of odl.audit_events',
    'the default partition is never anchored'
);
select throws_ok(
    $$select odl.audit_anchor_month(partition_name) from odl.log_partitions()
        where table_name = 'odl.audit_events' and range_start is not null order by range_start limit 1$$,
    'ODT02', 'audit months are retired oldest first, and only complete ones',
    'the current month is never anchored'
);
select lives_ok($$call odl.log_retention()$$, 'retention with nothing to retire drops nothing');
select is(
    (select count(*)::integer from odl.log_partitions() where table_name = 'odl.audit_events'),
    6,
    'the default partition, the current month and four ahead stay'
);

-- Premaking under a session time zone other than UTC: pg_partman computes
-- bounds in the session's zone, and each log's maintenance pins UTC (as
-- odl.log_maintenance(), which calls them all, does).
update partman.part_config set premake = 6 where parent_table like 'odl.%';
set local timezone = 'America/New_York';
call odl.audit_maintenance();
call odl.epcis_maintenance();
call odl.ai_maintenance();
call odl.trace_maintenance();
call odl.psu_ledger_maintenance();
-- pg_partman restores the search_path it found with a session-level
-- set_config(), which outlives the procedures' own SET clauses.
reset timezone;
reset search_path;
select results_eq(
    $$select table_name, months_ahead, utc_months, default_rows from odl.log_partition_status() order by 1$$,
    $$
        values
        ('odl.ai_messages', 6, true, 0::bigint), ('odl.audit_events', 6, true, 0::bigint),
        ('odl.epcis_events', 6, true, 0::bigint), ('odl.psu_ledger', 6, true, 0::bigint),
        ('odl.tool_call_traces', 6, true, 0::bigint)
    $$,
    'six months ahead for every log, all UTC months, empty default partitions'
);

select ok(
    (
        select bool_and(coalesce('security_barrier=true' = any(c.reloptions), false)) from pg_catalog.pg_class as c
        where c.oid in (
            'odl.ops_function_latency'::regclass, 'odl.ops_log_partitions'::regclass,
            'odl.ops_backups'::regclass
        )
    ),
    'the operations views are security_barrier'
);

select throws_ok(
    $$select odl.odl_record_backup('snapshot', true)$$,
    '22023', 'unknown backup kind', 'a backup is a backup or a drill'
);
select throws_ok(
    $$select odl.odl_record_backup('drill', null)$$,
    '22004', 'ok must not be null', 'whether it succeeded is required'
);
select throws_ok(
    $$select odl.odl_record_backup('drill', true, now(), '[1]')$$,
    '22023', 'backup details must be a JSON object of at most 64 kB', 'details are an object'
);
select results_eq(
    $$select kind, last_ok from odl.backup_status() order by kind$$,
    $$values ('backup', null::boolean), ('drill', null)$$,
    'no backup and no drill recorded yet'
);
select lives_ok($$select odl.odl_record_backup('drill', true, now(), '{"rpo_s": 1.4}')$$, 'a drill is recorded');

select * from finish();
rollback;
