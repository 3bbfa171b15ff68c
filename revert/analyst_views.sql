-- Revert odl-db:analyst_views from pg

begin;

commit;
