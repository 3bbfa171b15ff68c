-- Deploy odl-db:operations to pg
-- Reworked after @v0.2.0: every log's partitions, function latency, backups and drills, exporter lag

begin;

\ir ../sql/080_operations/monitoring.sql

call odl.adopt_objects();

commit;
