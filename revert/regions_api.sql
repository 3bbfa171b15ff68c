-- Revert odl-db:regions_api from pg

begin;

drop function odl.odl_region_report();
drop function odl.region_tenant_counts(text);
drop function odl.odl_region_unfreeze(text);
drop function odl.odl_region_freeze(text, text, bigint);
drop trigger settings_region_guard on odl.settings;
drop function odl.region_setting_guard();
drop function odl.region_write_guard(text, text);
drop function odl.region_home_check(text);
drop function odl.region_guard(text);
drop trigger tenants_region_guard on odl.tenants;
drop function odl.region_tenant_guard();
drop function odl.odl_region();
delete from odl.error_codes where sqlstate like 'ODW%';

commit;
