-- Deploy odl-db:ownership to pg
-- requires: schema

begin;

\ir ../sql/000_ownership/adopt_objects.sql

call odl.adopt_objects();

commit;
