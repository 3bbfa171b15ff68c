-- Revert odl-db:retention_api from pg

begin;

drop procedure odl.log_maintenance();
drop procedure odl.log_retention(interval);
drop function odl.log_partition_status();
drop function odl.log_partitions();
drop function odl.audit_anchor_month(text);
drop function odl.audit_chain_base(text);
drop function odl.audit_anchor_message(text, bigint, bytea, timestamptz);
delete from odl.error_codes where sqlstate in ('ODT01', 'ODT02');

commit;
