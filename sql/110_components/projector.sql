-- The components projector: keeps odl.component_index equal to the
-- documents' /libraries/components, and refuses a write that changes a
-- component's status in a way odl.component_transitions does not allow.

-- The index rows of a document's components: all of them (entries null), or
-- those of the given members of /libraries/components (map keys, or array
-- indexes as text). Both forms of the facts: a map keyed by name, whose
-- values may be groups of components (a value without category whose own
-- values all have one), or an array whose entries carry their own id (else
-- component_management.component_identity.component_id). When a name
-- repeats, the first entry in document order wins and occurrences counts
-- them.
create or replace function odl.component_rows(
    tenant_id text,
    doc_id text,
    project_id text,
    doc jsonb,
    entries text[]
)
returns setof odl.component_index
language plpgsql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- PL/pgSQL keeps the plan for the session: a SQL function with a pinned
-- search_path is never inlined, and would be planned on every call.
begin
    return query
    with container as (
        select doc #> '{libraries,components}' as value
    ),

    -- #> reaches a touched entry without walking the members before it.
    -- Entries sort as jsonb keeps them: array indexes in order, map keys by
    -- length, then bytes.
    top as (
        select (e.n - 1)::text as entry, e.n as ord, null::text as map_key, e.value
        from container as c
        cross join lateral jsonb_array_elements(c.value) with ordinality as e (value, n)
        where jsonb_typeof(c.value) = 'array' and entries is null
        union all
        select x.entry, x.entry::bigint + 1, null, c.value -> x.entry::integer
        from container as c
        cross join unnest(entries) as x (entry)
        where jsonb_typeof(c.value) = 'array' and x.entry ~ '^(0|[1-9][0-9]{0,8})$'
        union all
        select e.key, octet_length(e.key)::bigint, e.key, e.value
        from container as c
        cross join lateral jsonb_each(c.value) as e (key, value)
        where jsonb_typeof(c.value) = 'object' and entries is null
        union all
        select x.entry, octet_length(x.entry)::bigint, x.entry, c.value -> x.entry
        from container as c
        cross join unnest(entries) as x (entry)
        where jsonb_typeof(c.value) = 'object' and c.value ? x.entry
    ),

    components as (
        select t.entry, t.ord, 0::bigint as sub, null::text as group_key, coalesce(
            t.map_key,
            case when jsonb_typeof(t.value -> 'id') = 'string' then t.value ->> 'id' end,
            case
                when jsonb_typeof(t.value #> '{component_management,component_identity,component_id}') = 'string'
                    then t.value #>> '{component_management,component_identity,component_id}'
            end
        ) as component_key, t.value
        from top as t
        where jsonb_typeof(t.value) = 'object'
            and (t.map_key is null or t.value ? 'category' or t.value @? '$.* ? (@.type() != "object" || !exists(@.category))')
        union all
        select t.entry, t.ord, m.n, t.map_key, m.key, m.value
        from top as t
        cross join lateral jsonb_each(t.value) with ordinality as m (key, value, n)
        where t.map_key is not null and jsonb_typeof(t.value) = 'object' and not t.value ? 'category'
            and not t.value @? '$.* ? (@.type() != "object" || !exists(@.category))'
    ),

    fields as (
        select
            c.*,
            c.value -> 'component_management' as record,
            c.value #> '{component_management,component_identity}' as identity,
            coalesce(
                c.value #> '{component_management,component_identity,classification}',
                c.value #> '{component_management,classification}'
            ) as codes,
            count(*) over (partition by c.component_key) as occurrences,
            row_number() over (
                partition by c.component_key
                order by c.ord, convert_to(c.entry, 'UTF8'), c.sub
            ) as rank
        from components as c
        where c.component_key is not null
    )

    select
        component_rows.tenant_id::odl.ulid,
        component_rows.doc_id::odl.ulid,
        f.component_key,
        component_rows.project_id::odl.ulid,
        f.entry,
        f.group_key,
        f.occurrences::integer,
        coalesce(
            f.identity ->> 'component_id',
            case when jsonb_typeof(f.value -> 'id') = 'string' then f.value ->> 'id' end,
            f.value #>> '{metadata,id}',
            f.component_key
        ),
        coalesce(f.identity ->> 'brand', f.value #>> '{metadata,manufacturer}'),
        coalesce(f.identity ->> 'part_number', f.value #>> '{metadata,model}'),
        case
            when jsonb_typeof(f.identity -> 'rating_w') = 'number' then (f.identity ->> 'rating_w')::numeric
            when jsonb_typeof(f.value -> 'rating_w') = 'number' then (f.value ->> 'rating_w')::numeric
        end,
        f.identity ->> 'name',
        f.value ->> 'category',
        f.value ->> 'subcategory',
        f.codes ->> 'unspsc',
        f.codes ->> 'eclass',
        f.codes ->> 'hs_code',
        f.codes ->> 'gtin',
        f.record ->> 'status',
        f.record #>> '{tracking_policy,level}'
    from fields as f
    where f.rank = 1;
end
$$;

revoke all on function odl.component_rows(text, text, text, jsonb, text[]) from public;
comment on function odl.component_rows(text, text, text, jsonb, text[]) is
'The odl.component_index rows of a document''s /libraries/components: all (entries null), or those of the given '
'members (map keys, or array indexes as text)';

-- The JSON pointer of an indexed component, for messages and patches.
create or replace function odl.component_pointer(entry text, group_key text, component_key text)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select '/libraries/components/' || replace(replace(entry, '~', '~0'), '/', '~1')
        || case when group_key is not null then '/' || replace(replace(component_key, '~', '~0'), '/', '~1') else '' end
$$;

revoke all on function odl.component_pointer(text, text, text) from public;
comment on function odl.component_pointer(text, text, text) is
'The JSON pointer of a component of /libraries/components from its index row''s entry, group_key and key';

create or replace function odl.project_components(
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
-- A pointer below /libraries/components/<member> re-projects that member
-- only; one at /libraries/components or above it (a new document, the
-- container replaced, an array entry added, removed or moved) compares
-- every component with the rows. A member whose name another member also
-- uses is re-projected with all of them, so that the first still wins.
-- Every statement is a hash, merge or index lookup over the rows touched:
-- none can turn quadratic in the number of components.
declare
    whole boolean;
    touched text [];
    container jsonb := doc #> '{libraries,components}';
    fresh odl.component_index [];
    old odl.component_index [];
    written odl.component_index [];
    gone text [];
    changed record;
    roles record;
    roles_known boolean := false;
    refusal record;
    body jsonb;
begin
    select
        coalesce(bool_or(p.pointer in ('', '/libraries', '/libraries/components')), false),
        array_agg(distinct m.entry) filter (where m.entry is not null)
    into whole, touched
    from unnest(coalesce(changed_pointers, '{""}')) as p (pointer)
    cross join lateral (
        select replace(replace(substring(p.pointer from '^/libraries/components/([^/]*)'), '~1', '/'), '~0', '~')
    ) as m (entry);

    if not whole and touched is null then
        return;
    end if;

    if not whole then
        fresh := array(select r from odl.component_rows(tenant_id, doc_id, project_id, doc, touched) as r);
        old := array(
            select i from odl.component_index as i
            where i.tenant_id = project_components.tenant_id and i.doc_id = project_components.doc_id
                and i.entry = any(touched)
        );
        -- A name that repeats, before or after, needs the whole view: the
        -- first entry using it may be one left untouched.
        whole := jsonb_typeof(container) is distinct from 'object' and jsonb_typeof(container) is distinct from 'array'
            or exists (
                select from odl.component_index as i
                where i.tenant_id = project_components.tenant_id and i.doc_id = project_components.doc_id
                    and i.occurrences > 1
            )
            or exists (
                select from unnest(fresh) as f
                inner join odl.component_index as i
                    on i.tenant_id = project_components.tenant_id and i.doc_id = project_components.doc_id
                    and i.component_key = f.component_key
                where i.entry <> all(touched)
            );
    end if;
    if whole then
        fresh := array(select r from odl.component_rows(tenant_id, doc_id, project_id, doc, null) as r);
        old := array(
            select i from odl.component_index as i
            where i.tenant_id = project_components.tenant_id and i.doc_id = project_components.doc_id
        );
    end if;

    -- The status machine: every component whose status this write changes
    -- (a new one's from null). The roles are looked up only when one does.
    for changed in
        select f.component_key, f.entry, f.group_key, o.status as from_status, f.status as to_status
        from unnest(fresh) as f
        left join unnest(old) as o on f.component_key = o.component_key
        where f.status is distinct from o.status
        order by f.component_key
    loop
        if not roles_known then
            roles := odl.component_write_roles(tenant_id, doc_id, project_id);
            roles_known := true;
        end if;
        body := case jsonb_typeof(container)
            when 'array' then container -> changed.entry::integer
            else container -> changed.entry
        end;
        if changed.group_key is not null then
            body := body -> changed.component_key;
        end if;
        refusal := odl.component_transition_refusal(
            changed.from_status, changed.to_status, roles.author_roles, roles.approver_roles, body
        );
        if refusal.code is not null then
            raise exception using
                errcode = refusal.code,
                message = format(
                    'component status cannot change from %s to %s: %s', coalesce(changed.from_status, '(none)'),
                    coalesce(changed.to_status, '(none)'), refusal.reason
                ),
                detail = format(
                    'component %s at %s/component_management/status', changed.component_key,
                    odl.component_pointer(changed.entry, changed.group_key, changed.component_key)
                ),
                hint = case refusal.code
                    when 'ODK03' then 'Propose the change (propose => true) for one of its approvers to merge.'
                    when 'ODK04' then 'Add the missing fields to component_management in the same patch.'
                    else 'odl.component_transitions lists the legal transitions and who may make them.'
                end;
        end if;
    end loop;

    select
        array(select f from (select * from unnest(fresh) except select * from unnest(old)) as f),
        array(select o.component_key from unnest(old) as o except select f.component_key from unnest(fresh) as f)
    into written, gone;

    delete from odl.component_index as i
    where i.tenant_id = project_components.tenant_id and i.doc_id = project_components.doc_id
        and i.component_key = any(gone || array(select w.component_key from unnest(written) as w));
    insert into odl.component_index
    select * from unnest(written);
end
$$;

revoke all on function odl.project_components(text, text, text, integer, jsonb, text[]) from public;
comment on function odl.project_components(text, text, text, integer, jsonb, text[]) is
'The components projector: keeps odl.component_index equal to the document''s /libraries/components, '
're-projecting only the members below which a pointer changed (else all, writing only rows that differ), and '
'raises ODK01..ODK04 when the write changes a component''s status as odl.component_transitions forbids';

create or replace function odl.rebuild_components(doc_id text)
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- Statuses are taken as stored: a rebuild judges no transition.
declare
    stored record;
begin
    select d.tenant_id, d.project_id, odl.document_resolved(d.tenant_id, d.doc_json, d.external) as doc_json
    into stored
    from odl.odl_documents as d
    where d.doc_id = rebuild_components.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', quote_nullable(rebuild_components.doc_id));
    end if;
    delete from odl.component_index as i
    where i.tenant_id = stored.tenant_id and i.doc_id = rebuild_components.doc_id;
    insert into odl.component_index
    select * from odl.component_rows(stored.tenant_id, rebuild_components.doc_id, stored.project_id, stored.doc_json, null);
    return (
        select count(*)
        from odl.component_index as i
        where i.tenant_id = stored.tenant_id and i.doc_id = rebuild_components.doc_id
    );
end
$$;

revoke all on function odl.rebuild_components(text) from public;
comment on function odl.rebuild_components(text) is
'Projects a stored document''s components again from its current version, taking their statuses as stored; '
'returns how many rows it has. For repair, tests and the first deploy of the projector';

insert into odl.document_projectors (projector, handler, run_order)
values ('components', 'odl.project_components(text, text, text, integer, jsonb, text[])', 150)
on conflict (projector) do update set handler = excluded.handler, run_order = excluded.run_order;

-- Documents stored before the projector existed are projected once here;
-- later deploys find them projected.
do $$
begin
    perform odl.rebuild_components(d.doc_id)
    from odl.odl_documents as d
    where not exists (
        select from odl.component_index as i where i.tenant_id = d.tenant_id and i.doc_id = d.doc_id
    );
end
$$;
