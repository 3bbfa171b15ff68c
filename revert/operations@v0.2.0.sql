-- Revert odl-db:operations from pg

begin;

drop function odl.odl_health(interval, interval, interval, double precision);
drop function odl.odl_settings();
drop function odl.audit_partition_status();
drop function odl.audit_export_status();

commit;
