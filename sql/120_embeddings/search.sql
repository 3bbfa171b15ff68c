-- Semantic search under the caller's rights. The plan follows the tenant's
-- size (odl.search_plans, decided by odl.refresh_search_plans()): an exact
-- scan of a small tenant's vectors; the shared partial HNSW index of the
-- dimension with pgvector's iterative scan (relaxed order, then re-ranked
-- exactly) for a middle one; a partial HNSW index of its own for the
-- largest, whose graph holds no other tenant's vectors. An index plan that
-- finds fewer than k readable, fresh chunks falls back to the exact scan,
-- so that a search returns min(k, readable chunks) rows whatever the
-- filter's selectivity. Each search logs its plan (LOG level).

create or replace function odl.search_plan_for(vectors bigint, exact_below bigint, dedicated_from bigint)
returns text
language sql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select case
        when vectors < exact_below then 'exact'
        when vectors < dedicated_from then 'shared_hnsw'
        else 'dedicated_hnsw'
    end
$$;

revoke all on function odl.search_plan_for(bigint, bigint, bigint) from public;
comment on function odl.search_plan_for(bigint, bigint, bigint) is
'The search plan of a tenant with this many vectors: exact below exact_below, dedicated_hnsw from dedicated_from, '
'shared_hnsw between';

create or replace function odl.refresh_search_plans(
    exact_below bigint default 5000,
    dedicated_from bigint default 40000
)
returns table (tenant_id text, dims integer, vectors bigint, plan text, index_name text)
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- For the DBA (a superuser, whom row-level security does not hide rows
-- from) or a scheduled job: counts every tenant's vectors, builds the
-- shared HNSW index of each dimension in use and a partial HNSW index for
-- each tenant that reaches dedicated_from (CREATE INDEX: writes of vectors
-- wait while it builds; a tenant that shrinks keeps its index until the
-- next refresh drops it), and records each tenant's plan.
declare
    t record;
    wanted text[] := '{}';
    stale_index record;
begin
    if not pg_catalog.pg_has_role(current_user, 'odl_owner', 'MEMBER')
        and not (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user) then
        raise exception using
            errcode = '42501',
            message = 'permission denied: refresh_search_plans is for the DBA';
    end if;
    -- Plans first: a loop over odl.chunk_embeddings itself would keep it
    -- open, and CREATE INDEX refuses a table in use.
    delete from odl.search_plans;
    insert into odl.search_plans (tenant_id, dims, vectors, plan, index_name)
    select e.tenant_id, e.dims, count(*), odl.search_plan_for(count(*), exact_below, dedicated_from),
        case when odl.search_plan_for(count(*), exact_below, dedicated_from) = 'dedicated_hnsw'
            then 'chunk_embeddings_hnsw_' || lower(e.tenant_id) end
    from odl.chunk_embeddings as e
    group by e.tenant_id, e.dims;
    wanted := array(select p.index_name from odl.search_plans as p where p.index_name is not null);
    for t in select p.tenant_id, p.dims, p.index_name from odl.search_plans as p order by p.tenant_id loop
        execute format(
            'create index if not exists %I on odl.chunk_embeddings using hnsw '
            '((embedding::pgvector.vector(%s)) pgvector.vector_cosine_ops) where dims = %s',
            'chunk_embeddings_hnsw_' || t.dims, t.dims, t.dims
        );
        if t.index_name is not null then
            -- On the normalised vector (the same cosine distances): an
            -- expression only the dedicated plan's query names, so that the
            -- planner never takes the shared index for it. A denser graph
            -- than the default (m 16, ef_construction 64): the largest
            -- tenants hold many near-duplicate texts, which leave parts of a
            -- sparse graph hard to reach.
            execute format(
                'create index if not exists %I on odl.chunk_embeddings using hnsw '
                '((pgvector.l2_normalize(embedding)::pgvector.vector(%s)) pgvector.vector_cosine_ops) '
                'with (m = 24, ef_construction = 128) where dims = %s and tenant_id = %L',
                t.index_name, t.dims, t.dims, t.tenant_id
            );
        end if;
    end loop;
    for stale_index in
        select i.indexname from pg_catalog.pg_indexes as i
        where i.schemaname = 'odl' and i.tablename = 'chunk_embeddings'
            and i.indexname ~ '^chunk_embeddings_hnsw_[0-9a-z]{26}$' and i.indexname <> all(wanted)
    loop
        execute format('drop index odl.%I', stale_index.indexname);
    end loop;
    return query
    select p.tenant_id::text, p.dims, p.vectors, p.plan, p.index_name
    from odl.search_plans as p order by p.tenant_id;
end
$$;

revoke all on function odl.refresh_search_plans(bigint, bigint) from public;
comment on function odl.refresh_search_plans(bigint, bigint) is
'For the DBA or a scheduled job (as a superuser): decides each tenant''s search plan from its number of vectors, '
'builds the HNSW indexes the plans need (the shared one per dimension, a partial one per tenant with at least '
'dedicated_from vectors) and drops dedicated indexes no plan needs';

create or replace function odl.search_query(plan text, tenant_id text, dims integer, candidates integer)
returns text
language sql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    -- $1 query vector, $2 readable 'project_id section' keys, $3 sections
    -- filter (null: any). An index plan names the tenant and dimension as
    -- literals, so that the planner can match the partial index; it fetches
    -- more candidates than asked and the caller re-ranks them. The
    -- exact plan orders by an expression no index has.
    select format(
        'select e.doc_id, e.pointer, e.content_hash, %s as distance '
        'from odl.chunk_embeddings as e '
        'where e.tenant_id = %L and e.dims = %s '
        'and (e.project_id || '' '' || e.section) = any($2) and ($3 is null or e.section = any($3)) '
        'order by distance limit %s',
        case plan
            when 'exact' then 'e.embedding operator(pgvector.<=>) $1'
            when 'shared_hnsw' then format(
                'e.embedding::pgvector.vector(%s) operator(pgvector.<=>) $1::pgvector.vector(%s)', dims, dims
            )
            else format(
                'pgvector.l2_normalize(e.embedding)::pgvector.vector(%s) operator(pgvector.<=>) '
                '$1::pgvector.vector(%s)', dims, dims
            )
        end,
        tenant_id, dims, candidates
    )
$$;

revoke all on function odl.search_query(text, text, integer, integer) from public;
comment on function odl.search_query(text, text, integer, integer) is
'The text of the vector query of a plan (exact, shared_hnsw, dedicated_hnsw) for a tenant and dimension, fetching '
'that many candidates; for odl_search and the tests'' EXPLAIN';

create or replace function odl.odl_search_plan(scope text default null)
returns table (plan text, dims integer, vectors bigint, query text)
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
-- The plan odl_search would take for the context's tenant now, and its
-- query's text: EXPLAIN it to see the index.
declare
    context record := odl.require_context();
    current_model record;
begin
    if scope is not null then
        perform odl.scope_of(scope);
    end if;
    select m.model, m.dimensions into current_model from odl.embedding_model() as m;
    select p.plan, p.dims, p.vectors into plan, dims, vectors
    from odl.search_plans as p where p.dims = current_model.dimensions;
    plan := coalesce(plan, 'exact');
    dims := current_model.dimensions;
    query := odl.search_query(plan, context.tenant_id, dims, 10);
    return next;
end
$$;

revoke all on function odl.odl_search_plan(text) from public;
grant execute on function odl.odl_search_plan(text) to odl_app;
comment on function odl.odl_search_plan(text) is
'The plan odl_search() takes for the context''s tenant (exact, shared_hnsw or dedicated_hnsw), the tenant''s '
'dimension and number of vectors when last counted, and the text of its vector query (for EXPLAIN); ODC01, ODH02';

create or replace function odl.odl_search(
    query_vector real[],
    scope text default null,
    k integer default 10,
    sections text[] default null
)
returns setof odl.search_hit
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
-- The k chunks nearest to the query vector (cosine), among the fresh
-- chunks of the scope (a project, the projects under a node, or null: the
-- tenant's) in sections the caller may read (and in sections, when given).
declare
    context record := odl.require_context();
    current_model record;
    chosen_plan text;
    counted bigint;
    saved_scan text;
    saved_ef text;
    saved_sort text;
    readable text[];
    query pgvector.vector;
    hits odl.search_hit[];
    fallback boolean := false;
    wanted integer;
    fetched bigint;
begin
    if k is null or k not between 1 and 1000 then
        raise exception using
            errcode = 'ODX04',
            message = 'k must be between 1 and 1000',
            detail = format('k %s', coalesce(k::text, 'null'));
    end if;
    select m.model, m.dimensions into current_model from odl.embedding_model() as m;
    if query_vector is null or array_ndims(query_vector) is distinct from 1
        or exists (select from unnest(query_vector) as x (v) where x.v is null or x.v in ('NaN', 'Infinity', '-Infinity'))
        or not exists (select from unnest(query_vector) as x (v) where x.v <> 0) then
        raise exception using
            errcode = 'ODX03',
            message = 'the query vector must be a non-zero array of finite numbers',
            detail = format('dimensions %s', coalesce(cardinality(query_vector)::text, 'null'));
    end if;
    if cardinality(query_vector) <> current_model.dimensions then
        raise exception using
            errcode = 'ODX01',
            message = 'query vector of another dimension than the tenant''s model',
            detail = format('dimension %s, declared %s (%s)', cardinality(query_vector), current_model.dimensions,
                current_model.model);
    end if;
    query := query_vector::pgvector.vector;
    readable := odl.search_readable(scope);
    select p.plan, p.vectors into chosen_plan, counted from odl.search_plans as p where p.dims = current_model.dimensions;
    chosen_plan := coalesce(chosen_plan, 'exact');
    if chosen_plan <> 'exact' then
        -- Transaction-local, and put back below: the caller's own settings
        -- outlive the call.
        -- enable_sort off: the plan chosen is the index's ordered scan,
        -- not a sort of the tenant's rows found through another index.
        saved_scan := current_setting('hnsw.iterative_scan');
        saved_ef := current_setting('hnsw.ef_search');
        saved_sort := current_setting('enable_sort');
        perform
            set_config('hnsw.iterative_scan', 'relaxed_order', true),
            -- A dedicated graph holds only the tenant's vectors, many of them
            -- near duplicates (generated plants repeat their texts): a wide
            -- beam finds the true neighbours among them (at 400, a few
            -- queries of 30 found none of their ten in one benchmark run).
            set_config('hnsw.ef_search', case chosen_plan when 'dedicated_hnsw' then '1000' else '200' end, true),
            set_config('enable_sort', 'off', true);
        -- Candidates in relaxed order, re-ranked exactly; only chunks whose
        -- text is the one embedded and not stale count.
        execute format(
            'select array(select row(c.doc_id, c.version, c.pointer, 1 - v.distance, c.body)::odl.search_hit '
            'from (%s) as v inner join odl.chunks as c on c.tenant_id = %L and c.doc_id = v.doc_id '
            'and c.pointer = v.pointer and c.content_hash = v.content_hash and not c.stale '
            'order by v.distance, c.doc_id, c.pointer limit %s)',
            odl.search_query(
                chosen_plan, context.tenant_id, current_model.dimensions,
                case chosen_plan when 'dedicated_hnsw' then greatest(20 * k, 200) else greatest(10 * k, 100) end
            ),
            context.tenant_id, k
        )
        into hits
        using query, readable, sections;
        perform
            set_config('hnsw.iterative_scan', saved_scan, true),
            set_config('hnsw.ef_search', saved_ef, true),
            set_config('enable_sort', saved_sort, true);
        fallback := cardinality(hits) < k;
    end if;
    if chosen_plan = 'exact' or fallback then
        -- Twice k candidates at first: a stale chunk's leftover vector (a
        -- worker's store that lost the race with a writer) must not take
        -- the place of a fresh chunk, so fewer than k fresh among a full
        -- fetch asks for more.
        wanted := 2 * k + 8;
        loop
            execute format(
                'select array(select row(c.doc_id, c.version, c.pointer, 1 - v.distance, c.body)::odl.search_hit '
                'from (%s) as v inner join odl.chunks as c on c.tenant_id = %L and c.doc_id = v.doc_id '
                'and c.pointer = v.pointer and c.content_hash = v.content_hash and not c.stale '
                'order by v.distance, c.doc_id, c.pointer limit %s), '
                '(select count(*) from (%s) as w)',
                odl.search_query('exact', context.tenant_id, current_model.dimensions, wanted), context.tenant_id, k,
                odl.search_query('exact', context.tenant_id, current_model.dimensions, wanted)
            )
            into hits, fetched
            using query, readable, sections;
            exit when cardinality(hits) >= k or fetched < wanted;
            wanted := wanted * 4;
        end loop;
    end if;
    raise log using message = format(
        'odl_search: tenant %s, plan %s%s, %s vectors, k %s, %s rows',
        context.tenant_id, chosen_plan, case when fallback then ' then exact' else '' end,
        coalesce(counted::text, 'uncounted'), k, cardinality(hits)
    );
    return query select * from unnest(hits);
end
$$;

revoke all on function odl.odl_search(real[], text, integer, text[]) from public;
grant execute on function odl.odl_search(real[], text, integer, text[]) to odl_app;
comment on function odl.odl_search(real[], text, integer, text[]) is
'The k (1 to 1000) fresh chunks nearest (cosine) to query_vector among those of the scope (a project, the '
'projects under a node, null: the tenant) in sections the caller may read (and in sections, when given): '
'(doc_id, version, pointer, score, body), best first; never fewer than k when k such chunks exist. Text queries '
'are embedded by the client (odl_client.search_text). ODC01, ODH02, ODX01, ODX03, ODX04';
