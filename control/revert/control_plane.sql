-- Revert odl-control:control_plane from pg

begin;

drop view odl_control.region_counts;
drop function odl_control.flip_tenant(bigint);
drop trigger tenants_map_guard on odl_control.tenants;
drop function odl_control.tenant_map_guard();
drop trigger migrations_logged on odl_control.migrations;
drop function odl_control.migration_logged();
drop trigger migrations_step on odl_control.migrations;
drop function odl_control.migration_step();
drop table odl_control.migration_log;
drop table odl_control.migrations;
drop table odl_control.migration_transitions;
drop table odl_control.tenants;
drop table odl_control.regions;
drop schema odl_control;

commit;
