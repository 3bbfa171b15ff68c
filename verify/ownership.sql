-- Verify odl-db:ownership on pg

select 1 / count(*) from pg_catalog.pg_proc
where oid = 'odl.adopt_objects()'::regprocedure and proowner = 'odl_owner'::regrole;
