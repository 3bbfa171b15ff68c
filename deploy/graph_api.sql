-- Deploy odl-db:graph_api to pg

begin;

\ir ../sql/100_graph/projector.sql
\ir ../sql/100_graph/walks.sql

call odl.adopt_objects();

commit;
