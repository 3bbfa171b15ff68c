-- The embedding worker's side: a tenant declares its model, a worker (a
-- client process with a context, `make embed-worker`) claims stale chunks
-- with SKIP LOCKED, computes their vectors outside any writing
-- transaction, and stores them; a vector whose chunk changed meanwhile is
-- dropped, and the chunk stays stale for the next claim.

create or replace function odl.embedding_model()
returns table (model text, dimensions integer)
language sql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    -- The tenant's declared model, else the embedded default.
    select m.model, m.dimensions from odl.embedding_models as m
    union all
    select 'wordllama-l2-supercat-256', 256
    where not exists (select from odl.embedding_models)
    limit 1
$$;

revoke all on function odl.embedding_model() from public;
comment on function odl.embedding_model() is
'The context tenant''s embedding model and dimension: the declared one, else wordllama-l2-supercat-256 (256)';

create or replace function odl.search_readable(scope text default null)
returns text[]
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- 'project_id section' for every section the context's user may read (R
-- and the clearance for its classification) in every project in scope: a
-- project, the projects under a node, or (null) every project of the
-- tenant. Chunks never hold classified parts, so the section decides.
declare
    context record := odl.require_context();
    place_node text;
    place_project text;
begin
    if scope is not null then
        select o.node_id, o.project_id into place_node, place_project from odl.scope_of(scope) as o;
    end if;
    return array(
        select p.project_id || ' ' || r.section
        from odl.projects as p
        cross join lateral odl.user_rights(context.user_id, p.node_id) as r
        inner join odl.rbac_sections as s on r.section = s.section
        inner join odl.classification_levels as l on s.classification = l.level
        where p.node_id is not null
            and strpos(r.rights, 'R') > 0 and r.clearance >= l.rank
            and (
                scope is null
                or place_project is not null and p.project_id = place_project
                or place_project is null and p.node_id in (
                    select n.node_id from odl.nodes as n where n.path @> array[place_node]::odl.ulid[]
                )
            )
        order by 1
    );
end
$$;

revoke all on function odl.search_readable(text) from public;
comment on function odl.search_readable(text) is
'''project_id section'' of each section the context''s user may read in each project of the scope (a project, '
'the projects under a node, or null: the tenant''s); ODC01, ODH02';

create or replace function odl.odl_declare_embedding_model(model text, dimensions integer)
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
-- A new model or dimension makes every vector of the tenant useless: they
-- go, and every chunk turns stale for the worker. Returns how many chunks
-- wait for a vector.
declare
    context record := odl.require_context();
    previous record;
    waiting integer;
begin
    if not odl.is_tenant_admin() then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: only the tenant''s administrator declares its embedding model',
            detail = format('user_id %s', context.user_id);
    end if;
    select m.model, m.dimensions into previous from odl.embedding_model() as m;
    insert into odl.embedding_models as m (tenant_id, model, dimensions)
    values (context.tenant_id, odl_declare_embedding_model.model, odl_declare_embedding_model.dimensions)
    on conflict (tenant_id) do update set model = excluded.model, dimensions = excluded.dimensions, declared_at = now();
    if previous.model is distinct from odl_declare_embedding_model.model
        or previous.dimensions is distinct from odl_declare_embedding_model.dimensions then
        delete from odl.chunk_embeddings;
        update odl.chunks set stale = true, claimed_until = null where not stale;
    end if;
    select count(*) into waiting from odl.chunks as c where c.stale;
    perform odl.audit_append(
        'embeddings.declare_model',
        jsonb_build_object('model', odl_declare_embedding_model.model, 'dimensions',
            odl_declare_embedding_model.dimensions, 'previous_model', previous.model, 'stale_chunks', waiting)
    );
    return waiting;
end
$$;

revoke all on function odl.odl_declare_embedding_model(text, integer) from public;
grant execute on function odl.odl_declare_embedding_model(text, integer) to odl_app;
comment on function odl.odl_declare_embedding_model(text, integer) is
'Declares the tenant''s embedding model and its dimension (the tenant''s administrator); a change drops every '
'vector and makes every chunk stale. Returns how many chunks wait for a vector. ODR01, 23514 for a bad name or '
'dimension';

create or replace function odl.odl_embed_claim(batch integer default 64, lease interval default '5 minutes')
returns table (doc_id text, pointer text, content_hash text, body text, model text, dimensions integer)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- Cuts again the chunks the tenant's writes touched (odl.chunk_recut),
-- then takes up to batch stale chunks of the tenant that nobody holds (SKIP
-- LOCKED, and no live lease), oldest first, among those the context's user
-- may read, and leases them for lease: the caller commits at once, embeds
-- outside any transaction, then calls odl_embed_store(). A writer never
-- waits for the model: it only waits, if ever, for this short claim.
declare
    readable text[] := odl.search_readable(null);
    current_model record;
begin
    if batch not between 1 and 10000 then
        raise exception using
            errcode = '22023',
            message = 'batch must be between 1 and 10000',
            detail = format('batch %s', batch);
    end if;
    select m.model, m.dimensions into current_model from odl.embedding_model() as m;
    -- First the chunks the tenant's writes touched since, cut again from
    -- the documents as they are now (stale until embedded).
    perform odl.chunk_recut();
    return query
    with taken as (
        select c.tenant_id, c.doc_id, c.pointer
        from odl.chunks as c
        where c.stale and (c.claimed_until is null or c.claimed_until < now())
            and (c.project_id || ' ' || c.section) = any(readable)
        order by c.cut_at
        limit batch
        for update skip locked
    )

    update odl.chunks as c set claimed_until = now() + lease
    from taken as t
    where c.tenant_id = t.tenant_id and c.doc_id = t.doc_id and c.pointer = t.pointer
    returning c.doc_id::text, c.pointer, encode(c.content_hash, 'hex'), c.body, current_model.model,
        current_model.dimensions;
end
$$;

revoke all on function odl.odl_embed_claim(integer, interval) from public;
grant execute on function odl.odl_embed_claim(integer, interval) to odl_app;
comment on function odl.odl_embed_claim(integer, interval) is
'The embedding worker''s queue: leases up to batch stale chunks the context''s user may read (SKIP LOCKED), with '
'their text hash, text and the tenant''s model and dimension. 22023 for a batch outside 1 to 10000';

create or replace function odl.odl_embed_store(
    model text,
    doc_ids text[],
    pointers text[],
    content_hashes text[],
    vectors real[][]
)
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
-- Stores one vector per (doc_id, pointer, content_hash), a row of vectors
-- each: only where the chunk still has that text (else the vector is
-- dropped and the chunk stays stale). Returns how many it stored.
declare
    context record := odl.require_context();
    current_model record;
    stored integer;
begin
    select m.model, m.dimensions into current_model from odl.embedding_model() as m;
    if odl_embed_store.model is distinct from current_model.model then
        raise exception using
            errcode = 'ODX02',
            message = 'vectors of another model than the tenant''s',
            detail = format('model %s, declared %s', quote_nullable(odl_embed_store.model), current_model.model);
    end if;
    if cardinality(doc_ids) is distinct from cardinality(pointers)
        or cardinality(doc_ids) is distinct from cardinality(content_hashes)
        or coalesce(array_length(vectors, 1), 0) is distinct from cardinality(doc_ids) then
        raise exception using
            errcode = '22023',
            message = 'doc_ids, pointers, content_hashes and vectors differ in length',
            detail = format(
                'doc_ids %s, pointers %s, content_hashes %s, vectors %s', cardinality(doc_ids), cardinality(pointers),
                cardinality(content_hashes), coalesce(array_length(vectors, 1), 0)
            );
    end if;
    if cardinality(doc_ids) = 0 then
        return 0;
    end if;
    if array_length(vectors, 2) is distinct from current_model.dimensions then
        raise exception using
            errcode = 'ODX01',
            message = 'vectors of another dimension than the tenant''s model',
            detail = format('dimension %s, declared %s', array_length(vectors, 2), current_model.dimensions);
    end if;
    with given as (
        select i.n, doc_ids[i.n] as doc_id, pointers[i.n] as pointer, decode(content_hashes[i.n], 'hex') as content_hash,
            array(select unnest(vectors[i.n:i.n]))::pgvector.vector as embedding
        from generate_series(1, cardinality(doc_ids)) as i (n)
    ),

    fresh as (
        update odl.chunks as c set stale = false, claimed_until = null
        from given as g
        where c.doc_id = g.doc_id and c.pointer = g.pointer and c.content_hash = g.content_hash
        returning c.tenant_id, c.doc_id, c.pointer, c.project_id, c.section, c.content_hash
    )

    insert into odl.chunk_embeddings as e (tenant_id, doc_id, pointer, project_id, section, model, content_hash, embedding)
    select f.tenant_id, f.doc_id, f.pointer, f.project_id, f.section, current_model.model, f.content_hash, g.embedding
    from fresh as f
    inner join given as g on f.doc_id = g.doc_id and f.pointer = g.pointer
    on conflict on constraint chunk_embeddings_pkey do update set
        project_id = excluded.project_id,
        section = excluded.section,
        model = excluded.model,
        content_hash = excluded.content_hash,
        embedding = excluded.embedding,
        embedded_at = now();
    get diagnostics stored = row_count;
    perform odl.audit_append(
        'embeddings.store', jsonb_build_object('model', current_model.model, 'given', cardinality(doc_ids), 'stored', stored)
    );
    return stored;
end
$$;

revoke all on function odl.odl_embed_store(text, text[], text[], text[], real[][]) from public;
grant execute on function odl.odl_embed_store(text, text[], text[], text[], real[][]) to odl_app;
comment on function odl.odl_embed_store(text, text[], text[], text[], real[][]) is
'Stores the worker''s vectors (one row of vectors per chunk, named by doc_id, pointer and the text hash it '
'claimed): a chunk whose text changed since keeps no vector and stays stale. Returns how many it stored. ODX01 '
'(dimension), ODX02 (model), 22023 (lengths), 22000 for a non-finite element';

create or replace function odl.odl_embed_status()
returns table (model text, dimensions integer, chunks bigint, stale bigint, embedded bigint)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select m.model, m.dimensions,
        (select count(*) from odl.chunks),
        (select count(*) from odl.chunks as c where c.stale),
        (select count(*) from odl.chunk_embeddings)
    from odl.embedding_model() as m
$$;

revoke all on function odl.odl_embed_status() from public;
grant execute on function odl.odl_embed_status() to odl_app;
comment on function odl.odl_embed_status() is
'The context tenant''s embedding progress: its model and dimension, its chunks, how many are stale and how many '
'have a vector';
