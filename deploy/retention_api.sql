-- Deploy odl-db:retention_api to pg
-- requires: retention
-- requires: operations
-- requires: epcis_api
-- requires: traces_api
-- requires: ai_memory_api

begin;

\ir ../sql/120_retention/anchors.sql
\ir ../sql/120_retention/partitions.sql

call odl.adopt_objects();

commit;
