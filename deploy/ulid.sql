-- Deploy odl-db:ulid to pg
-- requires: ownership

begin;

\ir ../sql/010_ulid/odl_ulid.sql

call odl.adopt_objects();

commit;
