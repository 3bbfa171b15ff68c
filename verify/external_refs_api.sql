-- Verify odl-db:external_refs_api on pg

select 'odl.blob_purge()'::regprocedure;
select 'odl.odl_set_external(text, text, boolean, integer)'::regprocedure;
select 1 / (count(*) = 4)::int from odl.error_codes where sqlstate in ('ODB01', 'ODB02', 'ODB03', 'ODB04');
select 1 / count(*) from pg_catalog.pg_proc
where
    oid = 'odl.odl_set_external(text, text, boolean, integer)'::regprocedure
    and has_function_privilege('odl_app', oid, 'execute');
