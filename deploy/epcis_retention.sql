-- Deploy odl-db:epcis_retention to pg
-- requires: epcis
-- requires: traceability
-- requires: retention
-- requires: psu_ledger_v2
-- EPCIS events become retirable by DETACH and DROP (issue 15). A month of
-- odl.epcis_events goes with the rows that describe its events in the
-- unpartitioned tables (EPCs, business transactions, error declarations
-- and their corrective events, traceability's links), deleted by
-- odl.epcis_retire_month() in the same transaction (change
-- epcis_retention_api). The event ids stay in odl.epcis_event_ids: they
-- are what refuses a second capture of an event (ODE03), and a retired
-- event is still refused. keep_months stays null (every month kept) until
-- an operator sets it.

begin;

alter table odl.log_retention_policies drop constraint log_retention_policies_epcis_kept;

-- The events of a month, found by their record_time (written in that
-- order, so a BRIN range is tight; a b-tree here would have to lead with
-- tenant_id and could not answer "every tenant's events of a month").
create index epcis_event_ids_record_month on odl.epcis_event_ids using brin (record_time);
comment on index odl.epcis_event_ids_record_month is
'The events of a month across tenants, for retention (BRIN: ids are written in record_time order)';

call odl.adopt_objects();

commit;
