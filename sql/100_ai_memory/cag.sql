-- The CAG store (cache-ahead-of-generation). An entry's key is a hash of
-- the tenant, project, kind, tool (name@semver), model, the caller's policy
-- fingerprint, prompt and inputs, so entries are never shared across
-- tenants, projects, models, tool versions or callers who may read
-- different things. Each entry lists the parts of documents it was made
-- from (document, JSON pointer prefix, the version read and the hash of
-- the content there). A patch that changes such content invalidates the
-- entry in the patch's own transaction (the projector below); a lookup
-- also compares every dependency's hash with the current content (drift),
-- so no path that changes a document can leave a hit stale.
--
-- Hits are exact-key only. Semantic hits (match => 'semantic') wait for the
-- embeddings of the issue "Embeddings and Graph-RAG": they will search
-- within the same tenant, project, kind, tool, model and policy
-- fingerprint, with a negation guard, and raise ODI08 until then.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODI06', 'invalid_cache_request', 'A CAG kind, tool, model, TTL or dependency is malformed or outside the project'),
('ODI07', 'stale_cache_dependency', 'A dependency''s content changed since the version the response was made from'),
('ODI08', 'semantic_cache_unavailable', 'Semantic CAG lookups need the embeddings, which do not exist yet')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.pointer_content_hash(doc jsonb, pointer text)
returns text
language plpgsql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- PL/pgSQL, like the rights functions: it keeps its plans for the session,
-- where a SQL function with a pinned search_path is planned on every call.
begin
    return encode(sha256(convert_to(coalesce((doc #> odl.pointer_steps(pointer))::text, ''), 'UTF8')), 'hex');
end
$$;

revoke all on function odl.pointer_content_hash(jsonb, text) from public;
comment on function odl.pointer_content_hash(jsonb, text) is
'sha256 (hex) of the jsonb text of what a JSON pointer reaches in a document, or of the empty string when it '
'reaches nothing: what a CAG dependency compares';

create or replace function odl.pointer_ancestors(pointer text)
returns text[]
language plpgsql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- '/a/b' -> {'', '/a', '/a/b'}: the pointer and every pointer above it.
declare
    found_ancestors text [] := array[''];
    slash integer := 1;
    next_slash integer;
begin
    if pointer = '' then
        return found_ancestors;
    end if;
    loop
        next_slash := strpos(substr(pointer, slash + 1), '/');
        exit when next_slash = 0;
        slash := slash + next_slash;
        found_ancestors := found_ancestors || left(pointer, slash - 1);
    end loop;
    return found_ancestors || pointer;
end
$$;

revoke all on function odl.pointer_ancestors(text) from public;
comment on function odl.pointer_ancestors(text) is
'A JSON pointer and every pointer above it, from the root down';

create or replace function odl.cag_request(
    project_id text,
    kind text,
    tool text,
    model_id text,
    prompt text,
    inputs jsonb,
    out policy_fingerprint text,
    out cache_key text
)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    scope record;
begin
    if not exists (select from odl.projects as p where p.project_id = cag_request.project_id) then
        raise exception using
            errcode = 'ODD02',
            message = 'project does not exist',
            detail = format('project_id %s', quote_nullable(cag_request.project_id));
    end if;
    if not odl.readable_project(cag_request.project_id) then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: the CAG store needs R on the project',
            detail = format('user_id %s, project_id %s', context.user_id, cag_request.project_id);
    end if;
    if kind is null or kind not in (
        'prompt_response', 'embedding', 'tool_output', 'simulation_result', 'knowledge_retrieval', 'agent_plan'
    ) then
        raise exception using
            errcode = 'ODI06',
            message = 'unknown CAG kind',
            detail = format('kind %s', quote_nullable(kind)),
            hint = 'prompt_response, embedding, tool_output, simulation_result, knowledge_retrieval or agent_plan';
    end if;
    if coalesce(octet_length(tool), 0) not between 1 and 200 or coalesce(octet_length(model_id), 0) not between 1 and 200
    then
        raise exception using
            errcode = 'ODI06',
            message = 'a CAG entry needs a tool (name@semver) and a model id of 1 to 200 bytes',
            detail = format('tool %s, model_id %s', quote_nullable(left(tool, 200)), quote_nullable(left(model_id, 200)));
    end if;
    perform odl.check_limit('document_bytes', octet_length(prompt), 'the prompt');
    perform odl.check_json(inputs, null, 'document_bytes', 'the inputs', 0);

    scope := odl.scope_of(cag_request.project_id);
    -- The rights and clearance the user reads this project with: equal for
    -- two callers exactly when the same reads would show them the same.
    select encode(sha256(convert_to(
        coalesce(string_agg(format('%s=%s', r.section, r.rights), ',' order by r.section), '')
        || '@' || coalesce(max(r.clearance), 0),
        'UTF8'
    )), 'hex')
    into policy_fingerprint
    from odl.user_rights(context.user_id, scope.node_id) as r;

    cache_key := encode(sha256(convert_to(
        jsonb_build_array(
            context.tenant_id, cag_request.project_id, kind, tool, model_id, policy_fingerprint, prompt,
            coalesce(inputs, 'null')
        )::text,
        'UTF8'
    )), 'hex');
end
$$;

revoke all on function odl.cag_request(text, text, text, text, text, jsonb) from public;
comment on function odl.cag_request(text, text, text, text, text, jsonb) is
'Checks a CAG request (ODD02, ODR01, ODI06, ODL*) and returns the caller''s policy fingerprint at the project '
'and the entry''s key: sha256 of [tenant, project, kind, tool, model, fingerprint, prompt, inputs] as jsonb text';

create or replace function odl.odl_cag_put(
    project_id text,
    kind text,
    tool text,
    model_id text,
    prompt text,
    inputs jsonb,
    response text,
    dependencies jsonb,
    ttl interval default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    request record := odl.cag_request(project_id, kind, tool, model_id, prompt, inputs);
    lifetime interval := coalesce(ttl, case kind
        when 'prompt_response' then interval '6 hours'
        when 'embedding' then interval '7 days'
        when 'tool_output' then interval '2 hours'
        when 'simulation_result' then interval '12 hours'
        when 'knowledge_retrieval' then interval '4 hours'
        when 'agent_plan' then interval '30 minutes'
    end);
    reader record;
    dependency record;
    stored record;
    current_hash text;
    read_hash text;
    rows_written integer := 0;
    inserted integer;
begin
    if response is null then
        raise exception using errcode = 'ODI06', message = 'a CAG entry needs a response';
    end if;
    perform odl.check_limit('document_bytes', octet_length(response), 'the response');
    if lifetime <= interval '0' or lifetime > interval '30 days' then
        raise exception using
            errcode = 'ODI06',
            message = 'a CAG entry lives more than 0 and at most 30 days',
            detail = format('ttl %s', lifetime);
    end if;
    perform odl.check_json(dependencies, null, 'patch_bytes', 'the dependencies', 0);
    if jsonb_typeof(dependencies) is distinct from 'array' or jsonb_array_length(dependencies) > 100 then
        raise exception using
            errcode = 'ODI06',
            message = 'dependencies are an array of at most 100 {"doc_id", "pointer", "version"} objects',
            detail = format('dependencies %s', left(coalesce(dependencies::text, 'null'), 200));
    end if;

    insert into odl.cag_entries as e (
        tenant_id, cache_key, project_id, kind, tool, model_id, policy_fingerprint, response, created_by,
        expires_at, dependency_count
    )
    values (
        context.tenant_id, request.cache_key, odl_cag_put.project_id, odl_cag_put.kind, odl_cag_put.tool,
        odl_cag_put.model_id, request.policy_fingerprint, odl_cag_put.response, context.user_id,
        now() + lifetime, jsonb_array_length(dependencies)
    )
    on conflict on constraint cag_entries_pkey do update
    set response = excluded.response,
        created_by = excluded.created_by,
        created_at = excluded.created_at,
        expires_at = excluded.expires_at,
        dependency_count = excluded.dependency_count,
        hits = 0,
        last_hit_at = null,
        invalidated_at = null,
        invalidated_doc_id = null,
        invalidated_version = null;
    delete from odl.cag_dependencies as d
    where d.tenant_id = context.tenant_id and d.cache_key = request.cache_key;

    reader := odl.reader_scope((odl.scope_of(odl_cag_put.project_id)).node_id);
    for dependency in
        select
            x.value ->> 'doc_id' as doc_id,
            x.value ->> 'pointer' as pointer,
            case when jsonb_typeof(x.value -> 'version') = 'number' and x.value ->> 'version' ~ '^[0-9]{1,9}$'
                then (x.value ->> 'version')::integer
            end as version,
            x.n
        from jsonb_array_elements(dependencies) with ordinality as x (value, n)
    loop
        if dependency.doc_id is null or dependency.pointer is null or dependency.version is null
            or not (dependency.pointer = '' or starts_with(dependency.pointer, '/'))
        then
            raise exception using
                errcode = 'ODI06',
                message = 'a dependency is {"doc_id": string, "pointer": JSON pointer, "version": integer}',
                detail = format('dependency %s', dependency.n);
        end if;
        -- The share lock waits for a patch in flight and keeps the next one
        -- waiting until this entry commits, so its projector sees the entry.
        select d.version, odl.document_resolved(d.tenant_id, d.doc_json, d.external) as doc_json into stored
        from odl.odl_documents as d
        where d.doc_id = dependency.doc_id and d.project_id = odl_cag_put.project_id
        for share;
        if not found then
            raise exception using
                errcode = 'ODI06',
                message = 'a dependency''s document is not in the project',
                detail = format('dependency %s: doc_id %s', dependency.n, quote_literal(dependency.doc_id));
        end if;
        if dependency.version not between 1 and stored.version then
            raise exception using
                errcode = 'ODI06',
                message = 'a dependency''s version does not exist',
                detail = format(
                    'dependency %s: doc_id %s has versions 1 to %s, not %s', dependency.n, dependency.doc_id,
                    stored.version, dependency.version
                );
        end if;
        if not odl.pointers_readable(array[dependency.pointer], reader.readable_keys, reader.hidden_parts) then
            raise exception using
                errcode = 'ODR01',
                message = 'permission denied: a CAG dependency must be readable by its author',
                detail = format('dependency %s: pointer %s', dependency.n, quote_literal(dependency.pointer));
        end if;
        current_hash := odl.pointer_content_hash(stored.doc_json, dependency.pointer);
        if dependency.version <> stored.version then
            read_hash := odl.pointer_content_hash(odl.document_at(dependency.doc_id, dependency.version), dependency.pointer);
            if read_hash <> current_hash then
                raise exception using
                    errcode = 'ODI07',
                    message = 'a dependency changed since the version the response was made from',
                    detail = format(
                        'dependency %s: %s of doc_id %s differs between versions %s and %s', dependency.n,
                        quote_literal(dependency.pointer), dependency.doc_id, dependency.version, stored.version
                    ),
                    hint = 'Make the response again from the current version.';
            end if;
        end if;
        insert into odl.cag_dependencies (tenant_id, doc_id, pointer_prefix, cache_key, doc_version, content_hash)
        values (context.tenant_id, dependency.doc_id, dependency.pointer, request.cache_key, stored.version, current_hash)
        on conflict on constraint cag_dependencies_pkey do nothing;
        get diagnostics inserted = row_count;
        rows_written := rows_written + inserted;
    end loop;
    -- A dependency named twice counts once.
    update odl.cag_entries as e
    set dependency_count = (
        select count(*) from odl.cag_dependencies as d where d.tenant_id = e.tenant_id and d.cache_key = e.cache_key
    )
    where e.tenant_id = context.tenant_id and e.cache_key = request.cache_key
        and e.dependency_count <> rows_written;

    perform odl.audit_append(
        'ai.cache.stored',
        jsonb_build_object(
            'cache_key', request.cache_key, 'kind', kind, 'tool', tool, 'model_id', model_id,
            'dependencies', jsonb_array_length(dependencies),
            'response_sha256', encode(sha256(convert_to(response, 'UTF8')), 'hex')
        ),
        project_id
    );
    return request.cache_key;
end
$$;

revoke all on function odl.odl_cag_put(text, text, text, text, text, jsonb, text, jsonb, interval) from public;
grant execute on function odl.odl_cag_put(text, text, text, text, text, jsonb, text, jsonb, interval) to odl_app;
comment on function odl.odl_cag_put(text, text, text, text, text, jsonb, text, jsonb, interval) is
'Stores a response in the CAG store under the caller''s key (replacing an entry of that key) with its '
'dependencies [{"doc_id", "pointer", "version" read}] in the project; returns the key. ttl: the kind''s default '
'(prompt_response 6 h, embedding 7 d, tool_output 2 h, simulation_result 12 h, knowledge_retrieval 4 h, '
'agent_plan 30 min). ODC01, ODD02, ODR01, ODI06, ODI07, ODL*';

create or replace function odl.odl_cag_get(
    project_id text,
    kind text,
    tool text,
    model_id text,
    prompt text,
    inputs jsonb,
    match text default 'exact'
)
returns table (hit boolean, cache_key text, response text, miss_reason text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    context record := odl.require_context();
    request record;
    entry record;
    drifted record;
begin
    if match = 'semantic' then
        raise exception using
            errcode = 'ODI08',
            message = 'semantic CAG lookups are not available',
            detail = 'they need the embeddings of the issue "Embeddings and Graph-RAG"',
            hint = 'Look up with match => ''exact''.';
    elsif match is distinct from 'exact' then
        raise exception using
            errcode = '22023',
            message = 'match is exact or semantic',
            detail = format('match %s', quote_nullable(match));
    end if;
    request := odl.cag_request(project_id, kind, tool, model_id, prompt, inputs);
    select e.* into entry
    from odl.cag_entries as e
    where e.tenant_id = context.tenant_id and e.cache_key = request.cache_key
    for update;
    if not found or entry.model_id <> odl_cag_get.model_id or entry.policy_fingerprint <> request.policy_fingerprint
    then
        return query select false, request.cache_key, null::text, 'absent'::text;
        return;
    elsif entry.invalidated_at is not null then
        return query select false, request.cache_key, null::text, 'invalidated'::text;
        return;
    elsif entry.expires_at <= now() then
        return query select false, request.cache_key, null::text, 'expired'::text;
        return;
    end if;

    -- Drift: a dependency gone, or its content no longer what it was.
    -- The hash is computed again only for documents written since.
    select
        count(*) as present,
        (array_agg(d.doc_id) filter (where x.now_hash <> d.content_hash))[1] as doc_id,
        (array_agg(o.version) filter (where x.now_hash <> d.content_hash))[1] as version
    into drifted
    from odl.cag_dependencies as d
    inner join odl.odl_documents as o on d.tenant_id = o.tenant_id and d.doc_id = o.doc_id
    cross join lateral (
        select case when o.version = d.doc_version then d.content_hash
            else odl.pointer_content_hash(
                odl.document_resolved(o.tenant_id, o.doc_json, o.external), d.pointer_prefix
            ) end as now_hash
    ) as x
    where d.tenant_id = context.tenant_id and d.cache_key = request.cache_key;
    if drifted.present <> entry.dependency_count or drifted.doc_id is not null then
        update odl.cag_entries as e
        set invalidated_at = now(),
            invalidated_doc_id = drifted.doc_id,
            invalidated_version = drifted.version
        where e.tenant_id = context.tenant_id and e.cache_key = request.cache_key;
        delete from odl.cag_dependencies as d
        where d.tenant_id = context.tenant_id and d.cache_key = request.cache_key;
        return query select false, request.cache_key, null::text, 'drift'::text;
        return;
    end if;

    -- Still the same content: remember the version it was checked at.
    update odl.cag_dependencies as d
    set doc_version = o.version
    from odl.odl_documents as o
    where d.tenant_id = context.tenant_id and d.cache_key = request.cache_key
        and o.tenant_id = d.tenant_id and o.doc_id = d.doc_id and o.version <> d.doc_version;
    update odl.cag_entries as e
    set hits = e.hits + 1, last_hit_at = now()
    where e.tenant_id = context.tenant_id and e.cache_key = request.cache_key;
    return query select true, request.cache_key, entry.response, null::text;
end
$$;

revoke all on function odl.odl_cag_get(text, text, text, text, text, jsonb, text) from public;
grant execute on function odl.odl_cag_get(text, text, text, text, text, jsonb, text) to odl_app;
comment on function odl.odl_cag_get(text, text, text, text, text, jsonb, text) is
'Looks a response up in the CAG store by the exact key of the caller''s request: hit with the response, or a '
'miss and why (absent: no entry for this tenant, project, kind, tool, model, policy fingerprint, prompt and '
'inputs; invalidated: a patch changed a dependency; expired; drift: a dependency''s content differs now). '
'match => ''semantic'' raises ODI08 until embeddings exist. ODC01, ODD02, ODR01, ODI06, ODI08, 22023';

create or replace function odl.cag_invalidate(
    tenant_id text,
    doc_id text,
    version integer,
    doc jsonb,
    changed_pointers text[]
)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
set plan_cache_mode = force_custom_plan
as $$
-- Planned for each call's document: a generic plan cannot tell a document
-- with a few dependencies from one with thousands, and scans them all.
-- A dependency is looked at when a changed pointer lies at, above or below
-- its prefix (ancestors by equality, descendants by a range of the C
-- collation: '/' is followed by '0'); it is stale when the content under
-- its prefix hashes differently now. So adding to an array (the whole
-- array changed) invalidates only entries whose elements moved or changed.
declare
    stale text [];
begin
    -- The dependencies are read once (the planner's estimate of how many
    -- match is no reason to scan them again), each prefix hashed once.
    with touched as materialized (
        select t.pointer_prefix, t.cache_key, t.content_hash
        from unnest(coalesce(changed_pointers, '{""}')) as c (pointer)
        cross join lateral (
            select d.pointer_prefix, d.cache_key, d.content_hash
            from odl.cag_dependencies as d
            where d.tenant_id = cag_invalidate.tenant_id and d.doc_id = cag_invalidate.doc_id
                and d.pointer_prefix = any(odl.pointer_ancestors(c.pointer))
            union all
            select d.pointer_prefix, d.cache_key, d.content_hash
            from odl.cag_dependencies as d
            where d.tenant_id = cag_invalidate.tenant_id and d.doc_id = cag_invalidate.doc_id
                and d.pointer_prefix >= c.pointer || '/' and d.pointer_prefix < c.pointer || '0'
        ) as t
    ),

    hashed as (
        select p.pointer_prefix, odl.pointer_content_hash(doc, p.pointer_prefix) as content_hash
        from (select distinct t.pointer_prefix from touched as t) as p
    )

    select array_agg(distinct t.cache_key) into stale
    from touched as t
    inner join hashed as h on t.pointer_prefix = h.pointer_prefix
    where t.content_hash <> h.content_hash;

    if stale is null then
        return;
    end if;
    update odl.cag_entries as e
    set invalidated_at = now(),
        invalidated_doc_id = cag_invalidate.doc_id,
        invalidated_version = cag_invalidate.version
    where e.tenant_id = cag_invalidate.tenant_id and e.cache_key = any(stale) and e.invalidated_at is null;
    delete from odl.cag_dependencies as d
    where d.tenant_id = cag_invalidate.tenant_id and d.cache_key = any(stale);
end
$$;

revoke all on function odl.cag_invalidate(text, text, integer, jsonb, text[]) from public;
comment on function odl.cag_invalidate(text, text, integer, jsonb, text[]) is
'Invalidates every CAG entry with a dependency on the document whose content the version changed (found through '
'changed_pointers, confirmed by its hash); for the CAG projector';

create or replace function odl.project_cag_invalidation(
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
as $$
-- Most documents have no cached answer that depends on them: this probe
-- keeps its plan for the session, where cag_invalidate() is planned anew
-- at every call.
begin
    if exists (
        select from odl.cag_dependencies as d
        where d.tenant_id = project_cag_invalidation.tenant_id and d.doc_id = project_cag_invalidation.doc_id
    ) then
        perform odl.cag_invalidate(tenant_id, doc_id, version, doc, changed_pointers);
    end if;
end
$$;

revoke all on function odl.project_cag_invalidation(text, text, text, integer, jsonb, text[]) from public;
comment on function odl.project_cag_invalidation(text, text, text, integer, jsonb, text[]) is
'The CAG projector: in the patch''s transaction, invalidates every CAG entry with a dependency whose content the '
'version changed (found through changed_pointers, confirmed by its hash)';

insert into odl.document_projectors (projector, handler, run_order)
values ('cag_invalidation', 'odl.project_cag_invalidation(text, text, text, integer, jsonb, text[])', 300)
on conflict (projector) do update set handler = excluded.handler, run_order = excluded.run_order;
