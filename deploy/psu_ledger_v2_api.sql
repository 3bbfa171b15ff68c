-- Deploy odl-db:psu_ledger_v2_api to pg
-- requires: psu_ledger_v2

begin;

\ir ../sql/130_psu_ledger/ledger.sql

call odl.adopt_objects();

commit;
