-- Verify odl-db:regions on pg

select tenant_id, target_region, migration_id, frozen_at from odl.tenant_departures where false;
select 1 / (c.relrowsecurity and c.relforcerowsecurity)::int
from pg_catalog.pg_class as c where c.oid = 'odl.tenant_departures'::regclass;
select 1 / count(*)::int from pg_catalog.pg_constraint
where conrelid = 'odl.settings'::regclass and conname = 'settings_region_valid';
