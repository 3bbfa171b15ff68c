-- Deploy odl-db:extensions to pg
-- requires: schema
-- plpython3u is untrusted: creating it, and functions in it, needs a
-- superuser. A DBA may create these beforehand.

begin;

create extension if not exists plpython3u;
create extension if not exists jsonb_plpython3u;

commit;
