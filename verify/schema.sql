-- Verify odl-db:schema on pg

select 1 / count(*) from pg_catalog.pg_namespace
where nspname = 'odl' and nspowner = 'odl_owner'::regrole;
select sqlstate, name, meaning from odl.error_codes where false;
