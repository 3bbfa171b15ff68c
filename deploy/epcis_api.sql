-- Deploy odl-db:epcis_api to pg

begin;

\ir ../sql/100_epcis/normalize.sql
\ir ../sql/100_epcis/partitions.sql
\ir ../sql/100_epcis/event_hash.sql
\ir ../sql/100_epcis/validate.sql
\ir ../sql/100_epcis/odl_capture_epcis.sql
\ir ../sql/100_epcis/traceability.sql

call odl.adopt_objects();

commit;
