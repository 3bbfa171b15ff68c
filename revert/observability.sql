-- Revert odl-db:observability from pg

begin;

\set data_tables 'odl.function_timing_samples,odl.backup_runs'
\ir lib/refuse_data_loss.psql

drop table odl.backup_runs;
drop table odl.function_timing_samples;

commit;
