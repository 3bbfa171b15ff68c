-- Revert odl-db:regions from pg

begin;

drop table odl.tenant_departures;
delete from odl.settings where name = 'region';
alter table odl.settings drop constraint settings_region_valid;

commit;
