-- Verify odl-db:observability on pg

select function_name, sampled_at, source, calls, total_ms from odl.function_timing_samples where false;
select run_id, kind, ok, finished_at, details, recorded_at from odl.backup_runs where false;
select 1 / (count(*) = 2)::int
from pg_catalog.pg_class
where
    oid in ('odl.function_timing_samples'::regclass, 'odl.backup_runs'::regclass)
    and relowner = 'odl_owner'::regrole;
