-- What follows a stored version: the projectors the writer calls in its own
-- transaction (odl.document_projectors), the first of them, which keeps
-- odl.document_instances equal to the documents' /instances, the analysts'
-- view of it, and the ordered feed of versions for consumers outside the
-- transaction.

create or replace function odl.run_projectors(
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
declare
    handler regprocedure;
begin
    -- The loop's query keeps its plan for the session; each handler is one
    -- dynamic call whose arguments are bound, never spliced into the text.
    for handler in
        select p.handler from odl.document_projectors as p where p.enabled order by p.run_order
    loop
        execute format('select %s($1, $2, $3, $4, $5, $6)', handler::regproc)
        using tenant_id, doc_id, project_id, version, doc, changed_pointers;
    end loop;
end
$$;

revoke all on function odl.run_projectors(text, text, text, integer, jsonb, text[]) from public;
comment on function odl.run_projectors(text, text, text, integer, jsonb, text[]) is
'Calls every enabled projector of odl.document_projectors, in run_order, with a version the writer just stored: '
'(tenant_id, doc_id, project_id, version, document, changed_pointers). The writer calls it in its transaction';

create or replace function odl.project_instances(
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
-- A row per element of /instances that is an object with a string id, the
-- first one when an id repeats (the writer refuses documents that repeat
-- one). A pointer below /instances/N re-projects position N only; one at
-- /instances or above it (a new document, an element added, removed or
-- moved) compares the whole array with the rows and writes the difference.
-- Every statement is shaped so that its plan cannot turn quadratic in the
-- number of instances, whatever the table's statistics say; the plans are
-- generic for the reason odl.graph_sync gives.
declare
    whole boolean;
    positions integer [];
    fresh odl.document_instances [];
    gone text [];
begin
    select
        coalesce(bool_or(p.pointer in ('', '/instances') or m.n is null and starts_with(p.pointer, '/instances/')), false),
        array_agg(distinct m.n) filter (where m.n is not null)
    into whole, positions
    from unnest(coalesce(changed_pointers, '{""}')) as p (pointer)
    cross join lateral (
        select case
            when starts_with(p.pointer, '/instances/') and split_part(p.pointer, '/', 3) ~ '^(0|[1-9][0-9]{0,8})$'
                then split_part(p.pointer, '/', 3)::integer
        end as n
    ) as m;

    if not whole and positions is null then
        return;
    end if;

    -- A pointer below /instances/N leaves the array's length and order as
    -- they were: each such element's row is updated in place, where it
    -- differs, unless the element's id changed. #> reaches an element
    -- without copying the array around it (doc -> 'instances' would copy
    -- the whole array for every element).
    if not whole and doc @? 'strict $.instances ? (@.type() == "array")' then
        delete from odl.document_instances as i
        where i.tenant_id = project_instances.tenant_id and i.doc_id = project_instances.doc_id
            and i.position = any(positions)
            and doc #> array['instances', i.position::text, 'id'] is distinct from to_jsonb(i.instance_id);
        insert into odl.document_instances as i (
            tenant_id, doc_id, instance_id, project_id, position, type_ref, parent_ref, lifecycle_status, location
        )
        select
            project_instances.tenant_id, project_instances.doc_id, e.value ->> 'id', project_instances.project_id,
            p.n, e.value ->> 'type_ref', e.value ->> 'parent_ref', e.value ->> 'lifecycle_status', e.value -> 'location'
        from unnest(positions) as p (n)
        cross join lateral (select doc #> array['instances', p.n::text] as value) as e
        where jsonb_typeof(e.value -> 'id') = 'string'
        on conflict on constraint document_instances_pkey do update
        set position = excluded.position,
            type_ref = excluded.type_ref,
            parent_ref = excluded.parent_ref,
            lifecycle_status = excluded.lifecycle_status,
            location = excluded.location
        where (i.position, i.type_ref, i.parent_ref, i.lifecycle_status, i.location)
            is distinct from (
                excluded.position, excluded.type_ref, excluded.parent_ref, excluded.lifecycle_status, excluded.location
            );
        return;
    end if;

    -- Set differences (hashed or sorted, never a nested loop, whatever the
    -- statistics) find the elements whose row is missing or differs, and
    -- the rows whose id is gone; only those are written.
    with n as (
        select distinct on (e.value ->> 'id')
            e.value ->> 'id' as instance_id,
            project_instances.project_id,
            (e.n - 1)::integer as position,
            e.value ->> 'type_ref' as type_ref,
            e.value ->> 'parent_ref' as parent_ref,
            e.value ->> 'lifecycle_status' as lifecycle_status,
            e.value -> 'location' as location
        from jsonb_array_elements(
            case when doc @? 'strict $.instances ? (@.type() == "array")' then doc -> 'instances' else '[]' end
        ) with ordinality as e (value, n)
        where jsonb_typeof(e.value -> 'id') = 'string'
        order by e.value ->> 'id', e.n
    ),

    o as (
        select
            i.instance_id, i.project_id::text, i.position, i.type_ref, i.parent_ref, i.lifecycle_status, i.location
        from odl.document_instances as i
        where i.tenant_id = project_instances.tenant_id and i.doc_id = project_instances.doc_id
    )

    select
        array(
            select row(
                project_instances.tenant_id, project_instances.doc_id, f.instance_id, f.project_id, f.position,
                f.type_ref, f.parent_ref, f.lifecycle_status, f.location, null, null
            )::odl.document_instances
            from (select * from n except select * from o) as f
        ),
        array(select o.instance_id from o except select n.instance_id from n)
    into fresh, gone;

    delete from odl.document_instances as i
    where i.tenant_id = project_instances.tenant_id and i.doc_id = project_instances.doc_id
        and i.instance_id = any(gone || array(select f.instance_id from unnest(fresh) as f));
    insert into odl.document_instances (
        tenant_id, doc_id, instance_id, project_id, position, type_ref, parent_ref, lifecycle_status, location
    )
    select f.tenant_id, f.doc_id, f.instance_id, f.project_id, f.position, f.type_ref, f.parent_ref,
        f.lifecycle_status, f.location
    from unnest(fresh) as f;
end
$$;

revoke all on function odl.project_instances(text, text, text, integer, jsonb, text[]) from public;
comment on function odl.project_instances(text, text, text, integer, jsonb, text[]) is
'The instances projector: keeps odl.document_instances equal to the document''s /instances, re-projecting only '
'the positions below which a pointer changed, else the whole array (writing only rows that differ)';

create or replace function odl.rebuild_instances(doc_id text)
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    stored record;
begin
    select d.tenant_id, d.project_id, d.version, odl.document_resolved(d.tenant_id, d.doc_json, d.external) as doc_json into stored
    from odl.odl_documents as d
    where d.doc_id = rebuild_instances.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', quote_nullable(rebuild_instances.doc_id));
    end if;
    perform odl.project_instances(
        stored.tenant_id, rebuild_instances.doc_id, stored.project_id, stored.version, stored.doc_json, '{""}'
    );
    return (
        select count(*)
        from odl.document_instances as i
        where i.tenant_id = stored.tenant_id and i.doc_id = rebuild_instances.doc_id
    );
end
$$;

revoke all on function odl.rebuild_instances(text) from public;
comment on function odl.rebuild_instances(text) is
'Projects a stored document''s instances again from its current version, as a new document would be; returns '
'how many rows it has. For repair, tests and the first deploy of the projector';

insert into odl.document_projectors (projector, handler, run_order)
values ('instances', 'odl.project_instances(text, text, text, integer, jsonb, text[])', 100)
on conflict (projector) do update set handler = excluded.handler, run_order = excluded.run_order;

-- Documents stored before the projector existed (an upgrade from v0.1.0)
-- are projected once here; later deploys find them projected.
do $$
begin
    perform odl.project_instances(d.tenant_id, d.doc_id, d.project_id, d.version, d.doc_json, '{""}')
    from odl.odl_documents as d
    where not exists (
        select from odl.document_instances as i where i.tenant_id = d.tenant_id and i.doc_id = d.doc_id
    );
end
$$;

-- Analysts read the projection through this view. Like
-- odl.readable_documents it runs as its owner under RLS (the context's
-- tenant only); it lists the instances of projects where the reader may
-- read the instances section (R, and the clearance for its
-- classification). A project's instances of one type, or in one state,
-- come from the indexes (tenant_id, project_id, type_ref) and
-- (tenant_id, project_id, lifecycle_status).
create or replace view odl.readable_instances
with (security_barrier)
as
with readable_nodes as (
    select n.node_id
    from (select distinct p.node_id from odl.projects as p where p.node_id is not null) as n
    cross join odl.current_context as c
    cross join lateral odl.user_rights(c.user_id, n.node_id) as r
    inner join odl.rbac_sections as s on r.section = s.section
    inner join odl.classification_levels as l on s.classification = l.level
    where r.section = 'instances' and strpos(r.rights, 'R') > 0 and r.clearance >= l.rank
)

select
    i.project_id,
    i.doc_id,
    i.instance_id,
    i.position,
    i.type_ref,
    i.parent_ref,
    i.lifecycle_status,
    i.location,
    i.lat,
    i.lon
from odl.document_instances as i
inner join odl.projects as p on i.tenant_id = p.tenant_id and i.project_id = p.project_id
where p.node_id in (select rn.node_id from readable_nodes as rn);

revoke all on odl.readable_instances from public;
grant select on odl.readable_instances to odl_analyst;
-- A view checks EXECUTE on the functions it calls against its reader.
grant execute on function
odl.user_roles(text, text, timestamptz), odl.user_rights(text, text), odl.role_rights(text[])
to odl_analyst;
comment on view odl.readable_instances is
'Every instance of the current documents of projects where the reader may read the instances section, one row '
'each, kept equal to the documents by the instances projector (odl_analyst). Filter by project_id and type_ref, '
'or project_id and lifecycle_status, to use an index';

-- The feed orders versions by transaction id, which a transaction takes
-- at its first write (odl_set_context), not at commit. A writer that began
-- before the previous version committed would hold a smaller id than that
-- version; it takes the previous version's key instead, so that a
-- document's versions never appear out of order. Keys only grow, so no
-- version can sort before one the feed has handed out (odl_changes_since).
create or replace function odl.version_feed_order()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    new.xid := greatest(
        new.xid,
        (
            select v.xid
            from odl.odl_document_versions as v
            where v.tenant_id = new.tenant_id and v.doc_id = new.doc_id and v.version = new.version - 1
        )
    );
    return new;
end
$$;

revoke all on function odl.version_feed_order() from public;
comment on function odl.version_feed_order() is
'Trigger: a new version''s feed key (xid) is its transaction''s id, or the previous version''s key when larger';

create or replace trigger odl_document_versions_feed_order
before insert on odl.odl_document_versions
for each row execute function odl.version_feed_order();

-- The feed's horizon: the oldest transaction still running that may write
-- this database's versions, else the snapshot's xmax. A transaction known to
-- run in another database (its backend's or prepared transaction's
-- database), or in an autovacuum worker (a backend of this database without
-- a user), never writes here, so it holds nothing back; an xid nobody claims
-- (a subtransaction, a backend not seen yet) is taken to be ours. xids are
-- never reused, so a stale view of pg_stat_activity can only leave an xid
-- unclaimed, never claim it wrongly. That view is taken once per transaction:
-- taken before the snapshot (odl_changes_since() does so), it has seen every
-- xid the snapshot holds but those begun in between, which are younger than
-- every version committed before it.
create or replace function odl.change_feed_horizon()
returns xid8
language sql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    with snapshot as (select pg_current_snapshot() as s),

    elsewhere as (
        select a.backend_xid as xid
        from pg_stat_activity as a
        where a.backend_xid is not null and (a.datname <> current_database() or a.usesysid is null)
        union all
        select x.transaction
        from pg_prepared_xacts as x
        where x.database <> current_database()
    )

    select least(
        pg_snapshot_xmax(snapshot.s),
        (
            select min(r.xid)
            from pg_snapshot_xip(snapshot.s) as r (xid)
            where not exists (select from elsewhere as e where e.xid = r.xid::xid)
        )
    )
    from snapshot
$$;

revoke all on function odl.change_feed_horizon() from public;
comment on function odl.change_feed_horizon() is
'The change feed''s horizon: the oldest xid still running that is not known to belong to another database of the '
'cluster or to autovacuum, else the snapshot''s xmax; odl_changes_since() serves the versions of older transactions';

create or replace function odl.odl_changes_since(after text default null, max_count integer default 1000)
returns table (
    "position" text, -- noqa: RF06
    doc_id text,
    project_id text,
    version integer,
    doc_hash text,
    changed_pointers text[],
    created_by text,
    created_at timestamptz
)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- The feed is ordered by (writing transaction, version_id) and stops before
-- the oldest transaction still running in this database (its horizon,
-- odl.change_feed_horizon(), taken in the rows' snapshot): every version
-- after that horizon commits later with a larger transaction id, so it can
-- never land before a position already handed out. Pointers are shown as a
-- read would show the document: those in sections the reader may not read,
-- or in parts classified above the reader's clearance, are left out.
declare
    context record := odl.require_context();
    after_xid xid8 := '0';
    after_version_id bigint := 0;
    -- project_id -> {"keys": top-level keys the reader may read there,
    -- "hidden": a pattern matching the pointers of parts they may not}
    scope jsonb;
begin
    -- Volatile, so that the query below takes its snapshot after this look
    -- at pg_stat_activity, which the transaction keeps (see the horizon).
    perform from pg_stat_activity limit 1;
    if after is not null then
        if after !~ '^[0-9]{1,20}:[0-9]{1,18}$' then
            raise exception using
                errcode = '22023',
                message = 'malformed change feed position',
                detail = format('after %s', quote_literal(after)),
                hint = 'Pass null to read from the start, or the position of the last change read.';
        end if;
        after_xid := split_part(after, ':', 1)::xid8;
        after_version_id := split_part(after, ':', 2)::bigint;
    end if;
    if max_count is null or max_count not between 1 and 10000 then
        raise exception using
            errcode = '22023',
            message = 'max_count must be between 1 and 10000',
            detail = format('max_count %s', coalesce(max_count::text, 'null'));
    end if;
    -- Rights are decided per node, once, not per version.
    with node_scope as (
        select
            n.node_id,
            jsonb_build_object(
                'keys', jsonb_agg(k.key) filter (where strpos(r.rights, 'R') > 0 and r.clearance >= l.rank),
                'hidden', (
                    select string_agg(
                        '^' || replace(regexp_replace(c.pointer, '([.^$+?()\[\]{}|\\])', '\\\1', 'g'), '*', '[^/]+')
                        || '(/|$)',
                        '|'
                    )
                    from odl.rbac_classified_parts as c
                    inner join odl.classification_levels as cl on c.classification = cl.level
                    where cl.rank > max(r.clearance)
                )
            ) as scope
        from (select distinct q.node_id from odl.projects as q where q.node_id is not null) as n
        cross join lateral odl.user_rights(context.user_id, n.node_id) as r
        inner join odl.rbac_sections as s on r.section = s.section
        inner join odl.classification_levels as l on s.classification = l.level
        inner join odl.rbac_section_keys as k on r.section = k.section
        group by n.node_id
        having bool_or(strpos(r.rights, 'R') > 0)
    )

    select jsonb_object_agg(p.project_id, ns.scope) into scope
    from odl.projects as p
    inner join node_scope as ns on p.node_id = ns.node_id;

    return query
    select
        format('%s:%s', v.xid, v.version_id),
        v.doc_id::text,
        d.project_id::text,
        v.version,
        v.doc_hash,
        case when v.changed_pointers is not null then array(
            select x.pointer
            from unnest(v.changed_pointers) with ordinality as x (pointer, n)
            cross join lateral (select scope -> d.project_id::text as shown) as y
            where x.pointer = ''
                or y.shown -> 'keys' ? replace(replace(split_part(x.pointer, '/', 2), '~1', '/'), '~0', '~')
                and x.pointer !~ coalesce(y.shown ->> 'hidden', '$^')
            order by x.n
        ) end,
        v.created_by::text,
        v.created_at
    from odl.odl_document_versions as v
    inner join odl.odl_documents as d on v.tenant_id = d.tenant_id and v.doc_id = d.doc_id
    where v.tenant_id = context.tenant_id
        and (v.xid, v.version_id) > (after_xid, after_version_id)
        and v.xid < (select odl.change_feed_horizon())
        and scope ? d.project_id
    order by v.xid, v.version_id
    limit max_count;
end
$$;

revoke all on function odl.odl_changes_since(text, integer) from public;
grant execute on function odl.odl_changes_since(text, integer) to odl_app;
comment on function odl.odl_changes_since(text, integer) is
'The versions of documents the acting user may read, stored after the position "after" (null: from the start), '
'by writing transaction (a document''s versions in their order), at most max_count (1 to 10000); pass the last '
'row''s position to read on. Versions of transactions still running appear once they and all older ones have '
'ended. changed_pointers leaves out what the reader may not read. ODC01, 22023';
