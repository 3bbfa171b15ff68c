-- Deploy odl-db:ai_lifecycle_api to pg
-- requires: ai_lifecycle
-- requires: ai_memory_api

begin;

\ir ../sql/120_ai_lifecycle/sessions.sql
\ir ../sql/120_ai_lifecycle/retention.sql
\ir ../sql/120_ai_lifecycle/cag_purge.sql

call odl.adopt_objects();

commit;
