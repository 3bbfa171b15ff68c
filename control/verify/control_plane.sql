-- Verify odl-control:control_plane on pg

select region, dsn, admin_dsn from odl_control.regions where false;
select tenant_id, region, registered_at from odl_control.tenants where false;
select migration_id, tenant_id, source_region, target_region, state, started_at, updated_at, detail
from odl_control.migrations where false;
select migration_id, seq, state, logged_at, detail from odl_control.migration_log where false;
select 1 / count(*)::int from odl_control.migration_transitions;
select 1 / (count(*) = 3)::int from pg_catalog.pg_trigger
where tgname in ('migrations_step', 'migrations_logged', 'tenants_map_guard');
select 'odl_control.flip_tenant(bigint)'::regprocedure;
select region, tenants from odl_control.region_counts where false;
