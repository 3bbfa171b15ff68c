-- Deploy odl-db:analyst_views to pg

begin;

\ir ../sql/070_analyst/analyst_views.sql

call odl.adopt_objects();

commit;
