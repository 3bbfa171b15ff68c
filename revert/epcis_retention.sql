-- Revert odl-db:epcis_retention from pg
-- EPCIS events are kept forever again; months retired meanwhile stay gone.

begin;

drop index odl.epcis_event_ids_record_month;
update odl.log_retention_policies set keep_months = null where table_name = 'odl.epcis_events';
alter table odl.log_retention_policies add constraint log_retention_policies_epcis_kept check (
    table_name <> 'odl.epcis_events' or keep_months is null
);
comment on constraint log_retention_policies_epcis_kept on odl.log_retention_policies is
'EPCIS events stay: their ids, EPCs and business transactions live in unpartitioned tables that a dropped month '
'would leave pointing at nothing';

commit;
