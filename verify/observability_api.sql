-- Verify odl-db:observability_api on pg

select 'odl.odl_sample_function_timings()'::regprocedure;
select 'odl.function_latency(interval)'::regprocedure;
select 'odl.odl_record_backup(text, boolean, timestamptz, jsonb)'::regprocedure;
select 'odl.backup_status()'::regprocedure;
select function_name, p50_ms, p95_ms from odl.ops_function_latency where false;
select table_name, months_ahead, default_rows from odl.ops_log_partitions where false;
select kind, last_ok, age_seconds from odl.ops_backups where false;
select 1 / pg_catalog.has_function_privilege(
    'odl_admin', 'odl.odl_record_backup(text, boolean, timestamptz, jsonb)', 'EXECUTE'
)::int;
