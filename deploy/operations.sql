-- Deploy odl-db:operations to pg

begin;

\ir ../sql/080_operations/monitoring.sql

call odl.adopt_objects();

commit;
