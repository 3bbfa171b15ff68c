-- Revert odl-db:observability_api from pg

begin;

drop view odl.ops_backups;
drop view odl.ops_log_partitions;
drop view odl.ops_function_latency;
drop function odl.backup_status();
drop function odl.odl_record_backup(text, boolean, timestamptz, jsonb);
drop function odl.function_latency(interval);
drop function odl.odl_sample_function_timings();
drop function odl.function_timings_record(text, jsonb);
drop function odl.function_timings_source();

commit;
