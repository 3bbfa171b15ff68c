-- Verify odl-db:psu_ledger_v2_api on pg

select 'odl.psu_ledger_key_write()'::regprocedure;
select 'odl.psu_ledger_maintenance()'::regprocedure;
select 'odl.psu_ledger_month_hold(timestamptz, timestamptz)'::regprocedure;
select 'odl.psu_ledger_retire_keys(timestamptz, timestamptz)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_trigger
where tgrelid = 'odl.psu_ledger'::regclass and tgname = 'psu_ledger_keys' and tgenabled = 'O';
