-- Deploy odl-db:traceability_api to pg

begin;

\ir ../sql/110_traceability/rules.sql
\ir ../sql/110_traceability/serial_moves.sql
\ir ../sql/110_traceability/capture.sql
\ir ../sql/110_traceability/views.sql
\ir ../sql/110_traceability/questions.sql

call odl.adopt_objects();

commit;
