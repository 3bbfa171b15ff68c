-- Deploy odl-db:epcis_retention_api to pg
-- requires: epcis_retention

begin;

\ir ../sql/135_epcis_retention/retire.sql

call odl.adopt_objects();

commit;
