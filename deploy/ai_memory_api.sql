-- Deploy odl-db:ai_memory_api to pg

begin;

\ir ../sql/100_ai_memory/sessions.sql
\ir ../sql/100_ai_memory/context.sql
\ir ../sql/100_ai_memory/cag.sql
\ir ../sql/100_ai_memory/analyst.sql

call odl.adopt_objects();

commit;
