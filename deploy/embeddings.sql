-- Deploy odl-db:embeddings to pg
-- requires: documents_v2
-- requires: tenancy
-- Chunks of every current document, cut at meaningful pointers, and their
-- embeddings. pgvector lives in its own schema (pgvector) so that its
-- functions stay out of odl; the code names its type and operators with
-- the schema. The functions are the change embeddings_api's
-- (sql/120_embeddings).

begin;

do $$
declare
    found_schema text;
begin
    select e.extnamespace::regnamespace::text into found_schema
    from pg_catalog.pg_extension as e
    where e.extname = 'vector';
    if found_schema is null then
        create schema pgvector;
        create extension vector schema pgvector;
    elsif found_schema <> 'pgvector' then
        raise exception using
            errcode = '55000',
            message = 'pgvector is installed in another schema',
            detail = format('schema %s', found_schema),
            hint = 'alter extension vector set schema pgvector';
    end if;
end
$$;

alter schema pgvector owner to odl_owner;
revoke all on schema pgvector from public;
grant usage on schema pgvector to odl_owner;

-- One embedding model per tenant: its name and the dimension every vector
-- of the tenant has. Vectors of different tenants may differ in dimension.
create table odl.embedding_models (
    tenant_id odl.ulid not null primary key,
    model text not null,
    dimensions integer not null,
    declared_at timestamptz not null default now(),
    unique (tenant_id, model, dimensions),
    foreign key (tenant_id) references odl.tenants (tenant_id) on delete cascade,
    constraint embedding_models_name_format check (model ~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$'),
    constraint embedding_models_dimensions_range check (dimensions between 1 and 2000)
);
comment on table odl.embedding_models is
'The embedding model each tenant declared (odl_declare_embedding_model): every vector the tenant stores has its '
'dimension. Without a row the tenant embeds with the default wordllama-l2-supercat-256';
comment on constraint embedding_models_name_format on odl.embedding_models is
'A model name is 1 to 128 letters, digits and ._:/- characters';
comment on constraint embedding_models_dimensions_range on odl.embedding_models is
'pgvector''s HNSW index takes at most 2000 dimensions';

-- Pointers collate "C" (byte order), whatever the database's collation:
-- the chunks below a pointer p are then one range of the primary key,
-- from p || '/' up to p || '0'.
create table odl.chunks (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null,
    pointer text collate "C" not null,
    project_id odl.ulid not null,
    version integer not null,
    section text not null,
    body text not null,
    content_hash bytea not null,
    stale boolean not null default true,
    cut_at timestamptz not null default now(),
    claimed_until timestamptz,
    primary key (tenant_id, doc_id, pointer),
    foreign key (tenant_id, doc_id) references odl.odl_documents (tenant_id, doc_id) on delete cascade,
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade,
    constraint chunks_hash_is_sha256 check (length(content_hash) = 32)
);
comment on table odl.chunks is
'The searchable pieces of every current document, cut at meaningful pointers (an instance, a connection, a '
'hierarchy node, a component, each entry of a section''s lists). The chunks projector marks those a write touches '
'stale in its transaction; the embedding worker cuts them again (odl.chunk_recut) and embeds them. A stale chunk is '
'never returned by a search';
comment on constraint chunks_hash_is_sha256 on odl.chunks is 'content_hash is the SHA-256 of body';
comment on column odl.chunks.pointer is 'The JSON pointer of the piece of the document the chunk is cut from';
comment on column odl.chunks.version is 'The document version whose write last changed the chunk''s text';
comment on column odl.chunks.section is 'The access section of the pointer''s top-level key: a reader needs R on it';
comment on column odl.chunks.body is
'The text embedded: the pointer''s words and the piece''s keys and values, without any classified part';
comment on column odl.chunks.stale is
'True from a write that touched the chunk until the worker cut it again and holds a vector for its text';
comment on column odl.chunks.claimed_until is 'A worker took the chunk until then; after it another worker may';
-- The queue: stale chunks of a tenant, oldest cut first.
create index chunks_stale_idx on odl.chunks (tenant_id, cut_at) where stale;

-- What writes changed since the worker last cut a document: the pointers
-- of each version (the change feed's), until odl.chunk_recut() cuts them.
create table odl.chunk_recuts (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null,
    pointer text collate "C" not null,
    queued_at timestamptz not null default now(),
    primary key (tenant_id, doc_id, pointer),
    foreign key (tenant_id, doc_id) references odl.odl_documents (tenant_id, doc_id) on delete cascade
);
comment on table odl.chunk_recuts is
'The pointers writes changed in a document whose chunks the embedding worker has not cut again yet (the chunks '
'they touch are stale meanwhile); odl.chunk_recut() takes them';

-- The vector column has no typmod, so that tenants of any dimension share
-- the table; dims selects the partial HNSW index of that dimension.
create table odl.chunk_embeddings (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null,
    pointer text collate "C" not null,
    project_id odl.ulid not null,
    section text not null,
    model text not null,
    content_hash bytea not null,
    embedding pgvector.vector not null,
    dims integer generated always as (pgvector.vector_dims(embedding)) stored,
    embedded_at timestamptz not null default now(),
    primary key (tenant_id, doc_id, pointer),
    foreign key (tenant_id, doc_id, pointer) references odl.chunks (tenant_id, doc_id, pointer) on delete cascade,
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade
);
comment on table odl.chunk_embeddings is
'The vector of each chunk whose text has not changed since (content_hash), in the tenant''s declared model and '
'dimension. The chunks projector deletes a chunk''s vector in the transaction that changes its text';
comment on column odl.chunk_embeddings.dims is 'The vector''s dimension: partial HNSW indexes are per dimension';
comment on column odl.chunk_embeddings.content_hash is 'The hash of the chunk text the vector was computed from';
-- Exact scans read a tenant's vectors in a project.
create index chunk_embeddings_project_idx on odl.chunk_embeddings (tenant_id, project_id);
-- The shared HNSW index of the default dimension. Other dimensions are
-- scanned exactly until odl.refresh_search_plans() builds their index.
create index chunk_embeddings_hnsw_256 on odl.chunk_embeddings
using hnsw ((embedding::pgvector.vector(256)) pgvector.vector_cosine_ops) where dims = 256;

-- The plan a search of each tenant takes, decided from its size by
-- odl.refresh_search_plans().
create table odl.search_plans (
    tenant_id odl.ulid not null primary key,
    dims integer not null,
    vectors bigint not null,
    plan text not null,
    index_name text,
    decided_at timestamptz not null default now(),
    foreign key (tenant_id) references odl.tenants (tenant_id) on delete cascade,
    constraint search_plans_plan check (plan in ('exact', 'shared_hnsw', 'dedicated_hnsw')),
    constraint search_plans_dedicated_index check ((plan = 'dedicated_hnsw') = (index_name is not null))
);
comment on table odl.search_plans is
'The plan odl_search takes for each tenant, by its number of vectors: exact scan (small), the shared HNSW index '
'of its dimension with an iterative scan (middle), or a partial HNSW index of its own (largest)';
comment on constraint search_plans_plan on odl.search_plans is 'exact, shared_hnsw or dedicated_hnsw';
comment on constraint search_plans_dedicated_index on odl.search_plans is
'A dedicated plan names its partial index, and only it';

alter table odl.embedding_models enable row level security;
alter table odl.embedding_models force row level security;
create policy tenant_isolation on odl.embedding_models
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
alter table odl.chunks enable row level security;
alter table odl.chunks force row level security;
create policy tenant_isolation on odl.chunks
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
alter table odl.chunk_embeddings enable row level security;
alter table odl.chunk_embeddings force row level security;
create policy tenant_isolation on odl.chunk_embeddings
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
alter table odl.chunk_recuts enable row level security;
alter table odl.chunk_recuts force row level security;
create policy tenant_isolation on odl.chunk_recuts
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
alter table odl.search_plans enable row level security;
alter table odl.search_plans force row level security;
create policy tenant_isolation on odl.search_plans
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

revoke all on odl.embedding_models, odl.chunks, odl.chunk_recuts, odl.chunk_embeddings, odl.search_plans from public;

-- What a search returns, one row per chunk.
create type odl.search_hit as (
    doc_id text,
    version integer,
    pointer text,
    score double precision,
    body text
);
comment on type odl.search_hit is
'A chunk a search found: its document, the version that last changed it, its JSON pointer, the cosine similarity '
'to the query (1 is the same direction) and its text';
alter type odl.search_hit owner to odl_owner;

call odl.adopt_objects();

commit;
