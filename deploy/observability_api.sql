-- Deploy odl-db:observability_api to pg
-- requires: observability
-- requires: retention_api

begin;

\ir ../sql/125_observability/latency.sql
\ir ../sql/125_observability/backups.sql
\ir ../sql/125_observability/views.sql

call odl.adopt_objects();

commit;
