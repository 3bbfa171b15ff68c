-- Verify odl-db:regions_api on pg

select 1 / count(*)::int from pg_catalog.pg_trigger
where tgrelid = 'odl.tenants'::regclass and tgname = 'tenants_region_guard';
select 'odl.odl_region()'::regprocedure;
select 'odl.region_tenant_guard()'::regprocedure;
select 'odl.region_guard(text)'::regprocedure;
select 'odl.region_home_check(text)'::regprocedure;
select 'odl.region_write_guard(text, text)'::regprocedure;
select 1 / count(*)::int from pg_catalog.pg_trigger
where tgrelid = 'odl.settings'::regclass and tgname = 'settings_region_guard';
select 'odl.odl_region_freeze(text, text, bigint)'::regprocedure;
select 'odl.odl_region_unfreeze(text)'::regprocedure;
select 'odl.region_tenant_counts(text)'::regprocedure;
select 'odl.odl_region_report()'::regprocedure;
select 1 / (count(*) = 9)::int from odl.error_codes where sqlstate like 'ODW%';
