-- Deploy odl-db:components_api to pg

begin;

\ir ../sql/110_components/transitions.sql
\ir ../sql/110_components/projector.sql
\ir ../sql/110_components/odl_set_component_status.sql
\ir ../sql/110_components/views.sql

call odl.adopt_objects();

commit;
