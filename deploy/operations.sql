-- Deploy odl-db:operations to pg
-- Reworked after @v0.2.0: Monitoring of every partitioned log, retired audit months, function latency, backups and drills, exporter lag

begin;

\ir ../sql/080_operations/monitoring.sql

call odl.adopt_objects();

commit;
