-- Revert odl-db:extensions from pg

begin;

drop extension if exists jsonb_plpython3u;
drop extension if exists plpython3u;

commit;
