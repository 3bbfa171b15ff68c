-- Revert odl-db:psu_ledger_v2_api from pg

begin;

drop trigger psu_ledger_keys on odl.psu_ledger;
drop function odl.psu_ledger_retire_keys(timestamptz, timestamptz);
drop function odl.psu_ledger_month_hold(timestamptz, timestamptz);
drop procedure odl.psu_ledger_maintenance();
drop function odl.psu_ledger_key_write();

commit;
