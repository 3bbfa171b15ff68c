-- The operations figures as views, for analysts and DBAs. None holds
-- tenant data: timings per function, partitions per log, backups.
create or replace view odl.ops_function_latency
with (security_barrier)
as
select
    l.function_name,
    l.source,
    l.calls,
    l.intervals,
    l.first_sample,
    l.last_sample,
    round(l.mean_ms::numeric, 3) as mean_ms,
    round(l.p50_ms::numeric, 3) as p50_ms,
    round(l.p95_ms::numeric, 3) as p95_ms
from odl.function_latency('24 hours') as l;

revoke all on odl.ops_function_latency from public;
grant select on odl.ops_function_latency to odl_admin, odl_analyst;
comment on view odl.ops_function_latency is
'Last 24 hours per odl_ function: calls, mean, and p50/p95 of the per-interval mean latency in ms '
'(odl.function_latency())';

create or replace view odl.ops_log_partitions
with (security_barrier)
as
select
    s.table_name,
    s.partitions,
    s.oldest_month,
    s.partitions_until,
    s.months_ahead,
    s.utc_months,
    s.default_rows,
    s.keep_months,
    s.months_to_retire
from odl.log_partition_status() as s;

revoke all on odl.ops_log_partitions from public;
grant select on odl.ops_log_partitions to odl_admin, odl_analyst;
comment on view odl.ops_log_partitions is
'Per monthly-partitioned log: partitions made ahead, UTC bounds, rows in the default partition (should be 0), '
'retention (odl.log_partition_status())';

create or replace view odl.ops_backups
with (security_barrier)
as
select
    b.kind,
    b.last_run_at,
    b.last_ok,
    b.last_ok_at,
    b.age_seconds,
    b.details
from odl.backup_status() as b;

revoke all on odl.ops_backups from public;
grant select on odl.ops_backups to odl_admin, odl_analyst;
comment on view odl.ops_backups is
'The latest backup and restore drill and whether they succeeded (odl.backup_status())';
