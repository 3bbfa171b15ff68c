-- Verify odl-db:roles on pg

select 1 / count(*) from pg_catalog.pg_roles where rolname = 'odl_owner' and not rolcanlogin;
select 1 / count(*) from pg_catalog.pg_roles where rolname = 'odl_app' and not rolbypassrls and not rolsuper;
select 1 / count(*) from pg_catalog.pg_roles where rolname = 'odl_analyst';
select 1 / count(*) from pg_catalog.pg_roles where rolname = 'odl_admin';
