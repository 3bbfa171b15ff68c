-- Deploy odl-db:context to pg
-- requires: ownership

begin;

\ir ../sql/015_context/context.sql

call odl.adopt_objects();

commit;
