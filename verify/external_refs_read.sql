-- Verify odl-db:external_refs_read on pg

select 'odl.document_resolved(text, jsonb, jsonb)'::regprocedure;
select 'odl.document_put_back(text, jsonb, jsonb)'::regprocedure;
select 'odl.document_json(odl.odl_documents)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc
where
    oid = 'odl.document_json(odl.odl_documents)'::regprocedure
    and has_function_privilege('odl_analyst', oid, 'execute');
