-- Verify odl-db:extensions on pg

select 1 / count(*) from pg_catalog.pg_extension where extname = 'plpython3u';
select 1 / count(*) from pg_catalog.pg_extension where extname = 'jsonb_plpython3u';
