-- Verify odl-db:embeddings_api on pg

select 1 / count(*) from pg_catalog.pg_proc where oid = 'odl.odl_search(real[], text, integer, text[])'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc where oid = 'odl.odl_search_plan(text)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc where oid = 'odl.odl_embed_claim(integer, interval)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc
where oid = 'odl.odl_embed_store(text, text[], text[], text[], real[][])'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc where oid = 'odl.odl_declare_embedding_model(text, integer)'::regprocedure;
select 1 / count(*) from pg_catalog.pg_proc where oid = 'odl.refresh_search_plans(bigint, bigint)'::regprocedure;
select 1 / count(*) from odl.document_projectors
where projector = 'chunks' and handler = 'odl.project_chunks(text, text, text, integer, jsonb, text[])'::regprocedure;
select 1 / count(*) from odl.error_codes where sqlstate = 'ODX04';
