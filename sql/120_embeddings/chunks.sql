-- Chunks: the searchable pieces of every current document, cut at
-- meaningful pointers, kept equal to the documents by the chunks projector
-- in the writing transaction. A chunk whose text changes turns stale and
-- loses its vector there and then, so that a search, which reads vectors
-- only, can never return a stale chunk.
--
-- Where a document is cut (one rule, shared by the projector, the rebuild
-- and the tests): /hierarchy gives each node of its tree (without its
-- children); a top-level array gives each element (/instances/N,
-- /connections/N, /analysis/N); a top-level object gives each member, and a
-- member that is an array, or an object whose values are all objects (a
-- map such as /libraries/components), gives each of its entries instead.
-- Top-level scalars and keys that belong to no access section give none.
-- Classified parts (odl.rbac_classified_parts) are left out of every
-- chunk's text, whoever reads: a chunk never tells what a redacted read
-- would hide.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODX01', 'embedding_dimension_mismatch', 'A vector''s dimension is not the one the tenant''s model declares'),
('ODX02', 'embedding_model_mismatch', 'A vector comes from another model than the one the tenant declared'),
('ODX03', 'invalid_query_vector', 'A search''s query vector is missing, not finite or of zero length'),
('ODX04', 'search_k_out_of_range', 'A search asked for k outside 1 to 1000 rows')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.chunk_text(words text, value jsonb)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select left(
        words || ': '
        || btrim(regexp_replace(regexp_replace(value::text, '["{}\[\]]+', '', 'g'), '\s*[,:]\s*', ' ', 'g')),
        2000
    )
$$;

revoke all on function odl.chunk_text(text, jsonb) from public;
comment on function odl.chunk_text(text, jsonb) is
'A chunk''s text: the words of its pointer, then the value''s keys and values without JSON punctuation, at most '
'2000 characters';

create or replace function odl.chunk_body(pointer text, value jsonb)
returns text
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- The text embedded for the piece at pointer: its pointer's words (numeric
-- steps left out) and its keys and values, without JSON punctuation, at
-- most 2000 characters. Null when the piece lies inside a classified part;
-- a classified part inside the piece is removed first.
declare
    steps text[] := odl.pointer_steps(pointer);
    part text[];
    n integer;
    matches boolean;
begin
    if value is null then
        return null;
    end if;
    for part in select (string_to_array(c.pointer, '/'))[2:] from odl.rbac_classified_parts as c loop
        n := least(cardinality(part), cardinality(steps));
        matches := true;
        for i in 1..n loop
            if part[i] <> '*' and part[i] <> steps[i] then
                matches := false;
                exit;
            end if;
        end loop;
        if matches and cardinality(part) <= cardinality(steps) then
            return null;
        elsif matches then
            value := odl.jsonb_without(value, part[n + 1:]);
        end if;
    end loop;
    return odl.chunk_text(
        (
            select string_agg(s.step, ' ' order by s.n)
            from unnest(steps) with ordinality as s (step, n)
            where s.step !~ '^[0-9]+$'
        ),
        value
    );
end
$$;

revoke all on function odl.chunk_body(text, jsonb) from public;
comment on function odl.chunk_body(text, jsonb) is
'The text of the chunk at a JSON pointer: the pointer''s words, then the value''s keys and values without JSON '
'punctuation (at most 2000 characters), classified parts left out; null inside a classified part';

create or replace function odl.chunk_cut(doc jsonb, scope text, exact boolean)
returns table (pointer text, section text, body text)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- The chunks the document gives within a scope: the one chunk at scope
-- (exact), or every chunk at or below scope, which is a top-level key
-- (/instances) or one member of a top-level object (/libraries/components).
-- A member or entry key is escaped as RFC 6901 says.
declare
    steps text[] := odl.pointer_steps(scope);
    key_section text;
begin
    select k.section into key_section from odl.rbac_section_keys as k where k.key = steps[1];
    if key_section is null or cardinality(steps) = 0 then
        return;
    end if;
    if exact then
        return query
        select scope, key_section, b.body
        from (select odl.chunk_body(scope, doc #> steps) as body) as b
        where b.body is not null;
    elsif steps[1] = 'hierarchy' then
        return query
        select t.pointer, key_section, b.body
        from odl.graph_hierarchy_tree(doc) as t
        cross join lateral (select odl.chunk_body(t.pointer, t.node - 'children') as body) as b
        where b.body is not null;
    elsif cardinality(steps) = 1 and jsonb_typeof(doc -> steps[1]) = 'array'
        and not exists (select from odl.rbac_classified_parts as c where split_part(c.pointer, '/', 2) = steps[1]) then
        -- No classified part below the key: every element's text at once.
        return query
        select scope || '/' || (e.n - 1), key_section, odl.chunk_text(steps[1], e.value)
        from jsonb_array_elements(doc -> steps[1]) with ordinality as e (value, n);
    elsif cardinality(steps) = 1 and jsonb_typeof(doc -> steps[1]) = 'array' then
        return query
        select scope || '/' || (e.n - 1), key_section, b.body
        from jsonb_array_elements(doc -> steps[1]) with ordinality as e (value, n)
        cross join lateral (select odl.chunk_body(scope || '/' || (e.n - 1), e.value) as body) as b
        where b.body is not null;
    else
        return query
        with members as (
            select m.key, m.value, '/' || replace(replace(steps[1], '~', '~0'), '/', '~1') || '/'
                || replace(replace(m.key, '~', '~0'), '/', '~1') as at
            from jsonb_each(case when jsonb_typeof(doc -> steps[1]) = 'object' then doc -> steps[1] end) as m
            where cardinality(steps) = 1 or m.key = steps[2]
        ),

        pieces as (
            -- An array's elements, or a map's entries: each its own chunk.
            select m.at || '/' || (e.n - 1) as pointer, e.value
            from members as m
            cross join lateral jsonb_array_elements(
                case when jsonb_typeof(m.value) = 'array' then m.value end
            ) with ordinality as e (value, n)
            union all
            select m.at || '/' || replace(replace(e.key, '~', '~0'), '/', '~1'), e.value
            from members as m
            cross join lateral jsonb_each(case when odl.chunk_is_map(m.value) then m.value end) as e
            union all
            select m.at, m.value
            from members as m
            where jsonb_typeof(m.value) <> 'array' and not odl.chunk_is_map(m.value)
        )

        select p.pointer, key_section, b.body
        from pieces as p
        cross join lateral (select odl.chunk_body(p.pointer, p.value) as body) as b
        where b.body is not null;
    end if;
end
$$;

revoke all on function odl.chunk_cut(jsonb, text, boolean) from public;
comment on function odl.chunk_cut(jsonb, text, boolean) is
'The chunks (pointer, section, body) a document gives at scope (exact) or at and below it (a top-level key or a '
'member of a top-level object)';

create or replace function odl.chunk_is_map(value jsonb)
returns boolean
language sql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select jsonb_typeof(value) = 'object' and value <> '{}'
        and not jsonb_path_exists(value, 'strict $.* ? (@.type() != "object")')
$$;

revoke all on function odl.chunk_is_map(jsonb) from public;
comment on function odl.chunk_is_map(jsonb) is
'Whether a value is a non-empty object whose values are all objects (a map of entries, each its own chunk)';

create or replace function odl.chunk_split(doc jsonb, steps text[])
returns boolean
language sql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    -- JSON paths look at the value in place: doc #> steps would copy it.
    select
        jsonb_path_exists(doc, format('strict $.%s.%s ? (@.type() == "array")', to_jsonb(steps[1]), to_jsonb(steps[2]))::jsonpath, '{}', true)
        or jsonb_path_exists(doc, format('strict $.%s.%s.* ? (@.type() == "object")', to_jsonb(steps[1]), to_jsonb(steps[2]))::jsonpath, '{}', true)
        and not jsonb_path_exists(doc, format('strict $.%s.%s.* ? (@.type() != "object")', to_jsonb(steps[1]), to_jsonb(steps[2]))::jsonpath, '{}', true)
$$;

revoke all on function odl.chunk_split(jsonb, text[]) from public;
comment on function odl.chunk_split(jsonb, text[]) is
'Whether the member at the first two steps of a document is cut into one chunk per entry: an array, or a '
'non-empty object whose values are all objects';

create or replace function odl.chunk_scopes(doc jsonb, changed_pointers text[])
returns table (scope text, exact boolean)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- The scopes a version's changed pointers (other than the root) touch,
-- without copying more of the document than the elements they name: a
-- pointer at or below /instances/N (any top-level array) is that element;
-- one below an entry of an array or map member (/libraries/components/x)
-- is that entry; anything else re-cuts the top-level key (/hierarchy, a
-- whole array) or the member. Keys outside the access sections give none.
begin
    return query
    with p as (
        select
            x.pointer,
            s.steps,
            '/' || split_part(x.pointer, '/', 2) as top,
            '/' || split_part(x.pointer, '/', 2) || '/' || split_part(x.pointer, '/', 3) as member,
            '/' || split_part(x.pointer, '/', 2) || '/' || split_part(x.pointer, '/', 3) || '/'
            || split_part(x.pointer, '/', 4) as entry
        from unnest(changed_pointers) as x (pointer)
        cross join lateral (select odl.pointer_steps(x.pointer) as steps) as s
        where x.pointer <> '' and exists (select from odl.rbac_section_keys as k where k.key = s.steps[1])
    ),

    s as (
        select
            case
                when cardinality(p.steps) = 1 or p.steps[1] = 'hierarchy' then p.top
                when jsonb_path_exists(doc, format('strict $.%s ? (@.type() == "array")', to_jsonb(p.steps[1]))::jsonpath, '{}', true)
                    then p.member
                when cardinality(p.steps) > 2 and odl.chunk_split(doc, p.steps) then p.entry
                else p.member
            end as scope,
            case
                when cardinality(p.steps) = 1 or p.steps[1] = 'hierarchy' then false
                when jsonb_path_exists(doc, format('strict $.%s ? (@.type() == "array")', to_jsonb(p.steps[1]))::jsonpath, '{}', true)
                    then true
                else cardinality(p.steps) > 2 and odl.chunk_split(doc, p.steps)
            end as exact
        from p
    )

    -- A scope inside another one is covered by it.
    select distinct s.scope, s.exact
    from s
    where not exists (
        select from s as o
        where not o.exact and o.scope <> s.scope and starts_with(s.scope, o.scope || '/')
    );
end
$$;

revoke all on function odl.chunk_scopes(jsonb, text[]) from public;
comment on function odl.chunk_scopes(jsonb, text[]) is
'The chunk scopes (scope, exact) a version''s changed pointers other than the root touch: an element or entry '
'(exact), else a top-level key or a member of a top-level object and everything below it';

create or replace function odl.chunk_sync(
    tenant_id text,
    doc_id text,
    project_id text,
    version integer,
    doc jsonb,
    scope text,
    exact boolean
)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- Makes the stored chunks of a scope equal to those the document gives:
-- a chunk gone is deleted (its vector with it), a chunk whose text changed
-- is rewritten stale and loses its vector, an unchanged chunk is left
-- alone (its vector stays good).
begin
    with f as materialized (
        select c.pointer, c.section, c.body, sha256(convert_to(c.body, 'UTF8')) as content_hash
        from odl.chunk_cut(doc, scope, exact) as c
    ),

    o as materialized (
        select c.pointer, c.content_hash
        from odl.chunks as c
        where c.tenant_id = chunk_sync.tenant_id and c.doc_id = chunk_sync.doc_id
            and (c.pointer = scope or not exact and starts_with(c.pointer, scope || '/'))
    ),

    gone as (
        delete from odl.chunks as c
        using (select o.pointer from o except select f.pointer from f) as g
        where c.tenant_id = chunk_sync.tenant_id and c.doc_id = chunk_sync.doc_id and c.pointer = g.pointer
    ),

    changed as (
        select f.pointer, f.section, f.body, f.content_hash
        from f
        left join o on f.pointer = o.pointer
        where o.content_hash is distinct from f.content_hash
    )

    insert into odl.chunks as c (tenant_id, doc_id, pointer, project_id, version, section, body, content_hash)
    select chunk_sync.tenant_id, chunk_sync.doc_id, ch.pointer, chunk_sync.project_id, version, ch.section, ch.body,
        ch.content_hash
    from changed as ch
    on conflict on constraint chunks_pkey do update set
        version = excluded.version,
        section = excluded.section,
        body = excluded.body,
        content_hash = excluded.content_hash,
        stale = true,
        cut_at = now(),
        claimed_until = null;
    -- A statement of its own, after the one above: a worker's store that
    -- held a rewritten chunk has committed by now, and this snapshot sees
    -- (and deletes) the vector it stored for the old text.
    delete from odl.chunk_embeddings as e
    using odl.chunks as c
    where c.tenant_id = chunk_sync.tenant_id and c.doc_id = chunk_sync.doc_id
        and (c.pointer = scope or not exact and starts_with(c.pointer, scope || '/'))
        and e.tenant_id = c.tenant_id and e.doc_id = c.doc_id and e.pointer = c.pointer
        and e.content_hash <> c.content_hash;
end
$$;

revoke all on function odl.chunk_sync(text, text, text, integer, jsonb, text, boolean) from public;
comment on function odl.chunk_sync(text, text, text, integer, jsonb, text, boolean) is
'Makes the stored chunks of one scope of a document equal to those it gives: deletes the gone, rewrites (stale, '
'without vector) those whose text changed, leaves the unchanged';

create or replace function odl.project_chunks(
    tenant_id text,
    doc_id text,
    project_id text,
    version integer,
    doc jsonb,
    changed_pointers text[]
)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
set plan_cache_mode = force_generic_plan
as $$
-- In the writing transaction only what is cheap: the changed pointers are
-- queued for the worker (odl.chunk_recut cuts their chunks again from the
-- document it then reads), and every stored chunk they touch turns stale,
-- so that no search returns its old text meanwhile. A chunk is touched by
-- a pointer at or above it, or below it: chunk pointers are at most three
-- steps deep (hierarchy nodes aside, which /hierarchy covers whole), so the
-- first are one of the pointer's first three prefixes and the others one
-- range of the primary key (pointers collate "C").
begin
    -- Cheap probe: a version that changes only top-level keys outside the
    -- access sections touches no chunk.
    if not exists (
        select
        from unnest(coalesce(changed_pointers, '{""}')) as x (pointer)
        where x.pointer = '' or exists (
            select from odl.rbac_section_keys as k
            where k.key = replace(replace(split_part(x.pointer, '/', 2), '~1', '/'), '~0', '~')
        )
    ) then
        return;
    end if;
    with p as (
        select distinct case when starts_with(x.pointer, '/hierarchy/') then '/hierarchy' else x.pointer end
            collate "C" as pointer
        from unnest(coalesce(changed_pointers, '{""}')) as x (pointer)
    ),

    queued as (
        insert into odl.chunk_recuts (tenant_id, doc_id, pointer)
        select project_chunks.tenant_id, project_chunks.doc_id, p.pointer from p
        on conflict on constraint chunk_recuts_pkey do nothing
    ),

    touched as (
        select c.pointer
        from p
        cross join lateral (
            select c.pointer from odl.chunks as c
            where c.tenant_id = project_chunks.tenant_id and c.doc_id = project_chunks.doc_id
                and c.pointer = any(array[
                    '/' || split_part(p.pointer, '/', 2),
                    '/' || split_part(p.pointer, '/', 2) || '/' || split_part(p.pointer, '/', 3),
                    '/' || split_part(p.pointer, '/', 2) || '/' || split_part(p.pointer, '/', 3) || '/'
                    || split_part(p.pointer, '/', 4)
                ] collate "C")
            union all
            select c.pointer from odl.chunks as c
            where c.tenant_id = project_chunks.tenant_id and c.doc_id = project_chunks.doc_id
                and c.pointer > p.pointer || '/' and c.pointer < p.pointer || '0'
        ) as c
    )

    update odl.chunks as c set stale = true, claimed_until = null
    from touched as t
    where c.tenant_id = project_chunks.tenant_id and c.doc_id = project_chunks.doc_id and c.pointer = t.pointer
        and not c.stale;
end
$$;

revoke all on function odl.project_chunks(text, text, text, integer, jsonb, text[]) from public;
comment on function odl.project_chunks(text, text, text, integer, jsonb, text[]) is
'The chunks projector: queues the pointers a version changed for odl.chunk_recut() and marks the stored chunks '
'they touch stale, in the writing transaction, so that no search returns a chunk the write changed';

create or replace function odl.chunk_recut(max_documents integer default 100)
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- Cuts again the chunks of documents with queued pointers (those the
-- caller's RLS lets it see), at most max_documents of them: each under a
-- share lock on the document's row, so that no write commits between the
-- document read here and the chunks written from it, and a document a
-- writer holds is left for the next call. A touched chunk whose text did
-- not change, and whose vector is still there, is fresh again. Returns
-- how many documents it cut.
declare
    queued record;
    stored record;
    pointers text[];
    touched record;
    cut integer := 0;
begin
    for queued in
        select r.tenant_id, r.doc_id from odl.chunk_recuts as r
        group by r.tenant_id, r.doc_id
        order by min(r.queued_at)
        limit max_documents
    loop
        select d.project_id, d.version, odl.document_resolved(d.tenant_id, d.doc_json, d.external) as doc_json into stored
        from odl.odl_documents as d
        where d.tenant_id = queued.tenant_id and d.doc_id = queued.doc_id
        for share skip locked;
        continue when not found;
        with taken as (
            delete from odl.chunk_recuts as r
            where r.tenant_id = queued.tenant_id and r.doc_id = queued.doc_id
            returning r.pointer
        )

        select array_agg(t.pointer) into pointers from taken as t;
        if '' = any(pointers) then
            perform odl.chunk_sync_all(queued.tenant_id, queued.doc_id, stored.project_id, stored.version,
                stored.doc_json);
        else
            for touched in select s.scope, s.exact from odl.chunk_scopes(stored.doc_json, pointers) as s loop
                perform odl.chunk_sync(
                    queued.tenant_id, queued.doc_id, stored.project_id, stored.version, stored.doc_json,
                    touched.scope, touched.exact
                );
            end loop;
        end if;
        update odl.chunks as c set stale = false
        from odl.chunk_embeddings as e
        where c.tenant_id = queued.tenant_id and c.doc_id = queued.doc_id and c.stale
            and e.tenant_id = c.tenant_id and e.doc_id = c.doc_id and e.pointer = c.pointer
            and e.content_hash = c.content_hash;
        cut := cut + 1;
    end loop;
    return cut;
end
$$;

revoke all on function odl.chunk_recut(integer) from public;
comment on function odl.chunk_recut(integer) is
'Cuts again, from the current version, the chunks of at most max_documents documents whose writes queued pointers '
'(odl.chunk_recuts), each under a share lock on its row; touched chunks whose text is unchanged and still has its '
'vector are fresh again. The worker''s claim calls it; returns how many documents it cut';

create or replace function odl.chunk_sync_all(
    tenant_id text,
    doc_id text,
    project_id text,
    version integer,
    doc jsonb
)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    -- Every top-level key the document has, and those its chunks still
    -- name (a key the version removed).
    perform odl.chunk_sync(chunk_sync_all.tenant_id, chunk_sync_all.doc_id, chunk_sync_all.project_id, version, doc,
        k.scope, false)
    from (
        select '/' || replace(replace(j.key, '~', '~0'), '/', '~1') as scope
        from jsonb_object_keys(doc) as j (key)
        union
        select '/' || split_part(c.pointer, '/', 2)
        from odl.chunks as c
        where c.tenant_id = chunk_sync_all.tenant_id and c.doc_id = chunk_sync_all.doc_id
    ) as k;
end
$$;

revoke all on function odl.chunk_sync_all(text, text, text, integer, jsonb) from public;
comment on function odl.chunk_sync_all(text, text, text, integer, jsonb) is
'Makes every stored chunk of a document equal to those it gives (a new document, a write of the root)';

create or replace function odl.rebuild_chunks(doc_id text)
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    stored record;
begin
    select d.tenant_id, d.project_id, d.version, odl.document_resolved(d.tenant_id, d.doc_json, d.external) as doc_json
    into stored
    from odl.odl_documents as d
    where d.doc_id = rebuild_chunks.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', quote_nullable(rebuild_chunks.doc_id));
    end if;
    perform odl.chunk_sync_all(stored.tenant_id, rebuild_chunks.doc_id, stored.project_id, stored.version,
        stored.doc_json);
    return (
        select count(*) from odl.chunks as c where c.tenant_id = stored.tenant_id and c.doc_id = rebuild_chunks.doc_id
    );
end
$$;

revoke all on function odl.rebuild_chunks(text) from public;
comment on function odl.rebuild_chunks(text) is
'Cuts a stored document''s chunks again from its current version, keeping the vectors of unchanged chunks; '
'returns how many chunks it has. For repair, tests and the first deploy of the projector';

insert into odl.document_projectors (projector, handler, run_order)
values ('chunks', 'odl.project_chunks(text, text, text, integer, jsonb, text[])', 250)
on conflict (projector) do update set handler = excluded.handler, run_order = excluded.run_order;

-- Documents stored before the projector existed are cut once here; later
-- deploys find them cut.
do $$
begin
    perform odl.rebuild_chunks(d.doc_id)
    from odl.odl_documents as d
    where not exists (select from odl.chunks as c where c.tenant_id = d.tenant_id and c.doc_id = d.doc_id);
end
$$;
