-- Verify odl-db:embeddings on pg

select tenant_id, model, dimensions, declared_at from odl.embedding_models where false;
select
    tenant_id, doc_id, pointer, project_id, version, section, body, content_hash, stale, cut_at, claimed_until
from odl.chunks where false;
select
    tenant_id, doc_id, pointer, project_id, section, model, content_hash, embedding, dims, embedded_at
from odl.chunk_embeddings where false;
select tenant_id, doc_id, pointer, queued_at from odl.chunk_recuts where false;
select tenant_id, dims, vectors, plan, index_name, decided_at from odl.search_plans where false;
select (null::odl.search_hit).body;
select 1 / count(*) from pg_catalog.pg_extension where extname = 'vector' and extnamespace = 'pgvector'::regnamespace;
select 1 / count(*) from pg_catalog.pg_indexes where schemaname = 'odl' and indexname = 'chunk_embeddings_hnsw_256';
-- Every table under enabled and forced RLS.
select 1 / (count(*) = 5)::int
from pg_catalog.pg_class as c
where
    c.oid in (
        'odl.embedding_models'::regclass, 'odl.chunks'::regclass, 'odl.chunk_embeddings'::regclass,
        'odl.chunk_recuts'::regclass, 'odl.search_plans'::regclass
    )
    and c.relrowsecurity and c.relforcerowsecurity;
