-- Grounding: walks over a document's graph under the caller's rights. A
-- walk follows only edges of sections the caller may read, and shows a
-- node's pointers only from sections the caller may read, so that the graph
-- tells nobody what a read of the document would hide. Walks are
-- breadth-first, one recursive CTE step per depth, with the set of nodes
-- seen so far (cycles end there) and two limits that raise rather than cut
-- a result short: ODN01 beyond max_nodes, ODN02 beyond max_depth.

create or replace function odl.graph_scope(doc_id text, out tenant_id text, out project_id text, out sections text[])
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- The graph's sections (hierarchy, instances, connections) the context's
-- user may read at the document's project: R and the clearance for the
-- section's classification, and no part of it classified above that
-- clearance (such a section is left out whole rather than in part).
declare
    context record := odl.require_context();
    node_id text;
begin
    select d.tenant_id, d.project_id, p.node_id into graph_scope.tenant_id, graph_scope.project_id, node_id
    from odl.odl_documents as d
    inner join odl.projects as p on d.tenant_id = p.tenant_id and d.project_id = p.project_id
    where d.doc_id = graph_scope.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', quote_nullable(graph_scope.doc_id));
    end if;
    sections := array(
        select r.section
        from odl.user_rights(context.user_id, node_id) as r
        inner join odl.rbac_sections as s on r.section = s.section
        inner join odl.classification_levels as l on s.classification = l.level
        where node_id is not null
            and r.section in ('hierarchy', 'instances', 'connections')
            and strpos(r.rights, 'R') > 0 and r.clearance >= l.rank
            and not exists (
                select
                from odl.rbac_classified_parts as c
                inner join odl.classification_levels as cl on c.classification = cl.level
                inner join odl.rbac_section_keys as k on split_part(c.pointer, '/', 2) = k.key
                where k.section = r.section and cl.rank > r.clearance
            )
        order by r.section
    );
    if cardinality(sections) = 0 then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: the graph needs R on hierarchy, instances or connections',
            detail = format('user_id %s, doc_id %s', context.user_id, graph_scope.doc_id);
    end if;
end
$$;

revoke all on function odl.graph_scope(text) from public;
comment on function odl.graph_scope(text) is
'The document''s tenant and project, and the graph sections the context''s user may read there; ODD01, ODR01 when '
'none';

create or replace function odl.graph_walk(
    tenant_id text,
    doc_id text,
    sections text[],
    start text,
    kinds text[],
    direction text,
    max_depth integer,
    max_nodes integer,
    target text default null,
    depth_bound boolean default true
)
returns table (depth integer, node_id text)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- Breadth first from start along edges of the sections and kinds (null:
-- every kind): out follows from -> to, in to -> from, both either way. Each
-- step finds the frontier's neighbours by index and removes those seen by a
-- hashed set difference, so a step costs the frontier's edges plus the
-- nodes seen: a walk costs at most max_depth times max_nodes. A walk with
-- a target stops at the depth that reaches it; one without depth_bound
-- stops at max_depth instead of raising ODN02 (neighbours).
declare
    steps jsonb;
    last record;
begin
    if max_depth is null or max_depth not between 1 and 10000 then
        raise exception using
            errcode = '22023',
            message = 'max_depth must be between 1 and 10000',
            detail = format('max_depth %s', coalesce(max_depth::text, 'null'));
    end if;
    if max_nodes is null or max_nodes not between 1 and 1000000 then
        raise exception using
            errcode = '22023',
            message = 'max_nodes must be between 1 and 1000000',
            detail = format('max_nodes %s', coalesce(max_nodes::text, 'null'));
    end if;
    with recursive walk (depth, frontier, seen) as (
        select 0, array[start], array[start]
        union all
        select w.depth + 1, n.next, w.seen || n.next
        from walk as w
        cross join lateral (
            select array(
                select e.to_id
                from odl.graph_edges as e
                where direction in ('out', 'both')
                    and e.tenant_id = graph_walk.tenant_id and e.doc_id = graph_walk.doc_id
                    and e.from_id = any(w.frontier)
                    and e.section = any(sections) and (kinds is null or e.kind = any(kinds))
                union
                select e.from_id
                from odl.graph_edges as e
                where direction in ('in', 'both')
                    and e.tenant_id = graph_walk.tenant_id and e.doc_id = graph_walk.doc_id
                    and e.to_id = any(w.frontier)
                    and e.section = any(sections) and (kinds is null or e.kind = any(kinds))
                except
                select s.id from unnest(w.seen) as s (id)
            ) as next
        ) as n
        where cardinality(w.frontier) > 0
            and w.depth < max_depth + depth_bound::integer
            and cardinality(w.seen) <= max_nodes
            and (target is null or target <> all(w.frontier))
    )

    select jsonb_agg(jsonb_build_object('depth', w.depth, 'nodes', w.frontier) order by w.depth)
    into steps
    from walk as w;

    select (s.value ->> 'depth')::integer as depth, jsonb_array_length(s.value -> 'nodes') as width,
        (select sum(jsonb_array_length(x.value -> 'nodes')) from jsonb_array_elements(steps) as x) as seen
    into last
    from jsonb_array_elements(steps) as s (value)
    order by (s.value ->> 'depth')::integer desc
    limit 1;
    if last.seen > max_nodes then
        raise exception using
            errcode = 'ODN01',
            message = 'graph walk reaches more nodes than max_nodes',
            detail = format('doc_id %s, from %s, max_nodes %s', doc_id, quote_literal(start), max_nodes),
            hint = 'Narrow the walk (kinds) or raise max_nodes.';
    end if;
    if last.depth > max_depth and last.width > 0 then
        raise exception using
            errcode = 'ODN02',
            message = 'graph walk goes on beyond max_depth',
            detail = format('doc_id %s, from %s, max_depth %s', doc_id, quote_literal(start), max_depth),
            hint = 'Narrow the walk (kinds) or raise max_depth.';
    end if;
    return query
    select (s.value ->> 'depth')::integer, x.id
    from jsonb_array_elements(steps) as s (value)
    cross join lateral jsonb_array_elements_text(s.value -> 'nodes') as x (id);
end
$$;

revoke all on function odl.graph_walk(
    text, text, text[], text, text[], text, integer, integer, text, boolean
) from public;
comment on function odl.graph_walk(text, text, text[], text, text[], text, integer, integer, text, boolean) is
'Breadth-first walk of a document''s graph from a node: (depth, node_id) of every node reached, the start at depth '
'0. ODN01 beyond max_nodes, ODN02 beyond max_depth, 22023 a limit out of range';

create or replace function odl.graph_hits(
    tenant_id text,
    doc_id text,
    sections text[],
    kinds text[],
    direction text,
    reached jsonb
)
returns setof odl.graph_hit
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- The hits of a walk (reached: [{"depth", "node_id"}]): each node but the
-- start with the edges that reached it from the depth before, and its own
-- pointers and labels in the sections the reader may read.
begin
    return query
    with r as (
        select (x.value ->> 'depth')::integer as depth, x.value ->> 'node_id' as node_id
        from jsonb_array_elements(reached) as x (value)
    ),

    -- An edge reached a node if its other end lies one depth nearer the
    -- start: each node's edges come by index, their other ends are matched
    -- to the depths by a hashed join (never every pair of two depths).
    step as (
        select r.node_id, 'out' as way, e.kind, e.pointer
        from r
        inner join odl.graph_edges as e
            on e.tenant_id = graph_hits.tenant_id and e.doc_id = graph_hits.doc_id and r.node_id = e.to_id
        inner join r as p on e.from_id = p.node_id and r.depth = p.depth + 1
        where direction in ('out', 'both') and e.section = any(sections) and (kinds is null or e.kind = any(kinds))
        union all
        select r.node_id, 'in', e.kind, e.pointer
        from r
        inner join odl.graph_edges as e
            on e.tenant_id = graph_hits.tenant_id and e.doc_id = graph_hits.doc_id and r.node_id = e.from_id
        inner join r as p on e.to_id = p.node_id and r.depth = p.depth + 1
        where direction in ('in', 'both') and e.section = any(sections) and (kinds is null or e.kind = any(kinds))
    ),

    via as (
        select
            s.node_id,
            case when min(s.way) = max(s.way) then min(s.way) else 'both' end as direction,
            array_agg(distinct s.kind) as kinds,
            array_agg(distinct s.pointer) as pointers
        from step as s
        group by s.node_id
    )

    select
        r.node_id, r.depth, v.direction, v.kinds,
        coalesce(array(
            select distinct g.label from odl.graph_nodes as g
            where g.tenant_id = graph_hits.tenant_id and g.doc_id = graph_hits.doc_id and g.node_id = r.node_id
                and g.section = any(sections) and g.label is not null
            order by g.label
        ), '{}'),
        coalesce(array(
            select g.pointer from odl.graph_nodes as g
            where g.tenant_id = graph_hits.tenant_id and g.doc_id = graph_hits.doc_id and g.node_id = r.node_id
                and g.section = any(sections)
            order by g.pointer
        ), '{}'),
        v.pointers
    from r
    inner join via as v on r.node_id = v.node_id
    where r.depth > 0
    order by r.depth, r.node_id;
end
$$;

revoke all on function odl.graph_hits(text, text, text[], text[], text, jsonb) from public;
comment on function odl.graph_hits(text, text, text[], text[], text, jsonb) is
'The odl.graph_hit rows of a walk''s nodes: the edges that reached each from the depth before, and its readable '
'pointers and labels';

create or replace function odl.graph_reach(
    doc_id text, node_id text, kinds text[], direction text, max_depth integer, max_nodes integer,
    depth_bound boolean default true
)
returns setof odl.graph_hit
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    scope record := odl.graph_scope(doc_id);
begin
    return query
    select h.*
    from odl.graph_hits(
        scope.tenant_id, graph_reach.doc_id, scope.sections, kinds, direction,
        (
            select jsonb_agg(jsonb_build_object('depth', w.depth, 'node_id', w.node_id))
            from odl.graph_walk(
                scope.tenant_id, graph_reach.doc_id, scope.sections, graph_reach.node_id, kinds, direction,
                max_depth, max_nodes, null, depth_bound
            ) as w
        )
    ) as h;
end
$$;

revoke all on function odl.graph_reach(text, text, text[], text, integer, integer, boolean) from public;
comment on function odl.graph_reach(text, text, text[], text, integer, integer, boolean) is
'Every node a walk from node_id reaches in a direction (out, in, both) along the readable edges of the kinds';

create or replace function odl.odl_graph_neighbours(doc_id text, node_id text, kinds text[] default null)
returns setof odl.graph_hit
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    return query select * from odl.graph_reach(doc_id, node_id, kinds, 'both', 1, 1000000, false);
end
$$;

revoke all on function odl.odl_graph_neighbours(text, text, text[]) from public;
grant execute on function odl.odl_graph_neighbours(text, text, text[]) to odl_app;
comment on function odl.odl_graph_neighbours(text, text, text[]) is
'The nodes one readable edge of the kinds (null: any) away from node_id in the document, either way: direction out '
'(node_id is the edge''s from or parent), in, or both; with the pointers of the edges and of the nodes. ODC01, '
'ODD01, ODR01';

create or replace function odl.odl_graph_upstream(
    doc_id text,
    node_id text,
    kinds text[] default '{dc_power,ac_power}',
    max_depth integer default 64,
    max_nodes integer default 10000
)
returns setof odl.graph_hit
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    return query select * from odl.graph_reach(doc_id, node_id, kinds, 'in', max_depth, max_nodes);
end
$$;

revoke all on function odl.odl_graph_upstream(text, text, text[], integer, integer) from public;
grant execute on function odl.odl_graph_upstream(text, text, text[], integer, integer) to odl_app;
comment on function odl.odl_graph_upstream(text, text, text[], integer, integer) is
'Every node upstream of node_id: from which a chain of readable edges of the kinds (default the electrical ones, '
'dc_power and ac_power) leads to it, by depth, each with the edges that reach it and its pointers. ODC01, ODD01, '
'ODR01, ODN01, ODN02, 22023';

create or replace function odl.odl_graph_downstream(
    doc_id text,
    node_id text,
    kinds text[] default '{dc_power,ac_power}',
    max_depth integer default 64,
    max_nodes integer default 10000
)
returns setof odl.graph_hit
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    return query select * from odl.graph_reach(doc_id, node_id, kinds, 'out', max_depth, max_nodes);
end
$$;

revoke all on function odl.odl_graph_downstream(text, text, text[], integer, integer) from public;
grant execute on function odl.odl_graph_downstream(text, text, text[], integer, integer) to odl_app;
comment on function odl.odl_graph_downstream(text, text, text[], integer, integer) is
'Every node downstream of node_id: to which a chain of readable edges of the kinds (default dc_power and '
'ac_power) leads from it, by depth, each with the edges that reach it and its pointers. ODC01, ODD01, ODR01, '
'ODN01, ODN02, 22023';

create or replace function odl.odl_graph_path(
    doc_id text,
    from_id text,
    to_id text,
    kinds text[] default null,
    max_depth integer default 64,
    max_nodes integer default 10000
)
returns setof odl.graph_hit
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
-- A shortest path over readable edges of the kinds taken either way, found
-- breadth first and traced back from to_id, each step to the smallest id
-- one depth nearer the start (so the same graph gives the same path).
declare
    scope record := odl.graph_scope(doc_id);
    reached jsonb;
    found_at integer;
    here text;
    step record;
    path odl.graph_hit [];
begin
    -- reached: {depth: [node ids]}, so that a step back unpacks one depth.
    select jsonb_object_agg(l.depth, l.nodes), max(l.depth) filter (where l.found)
    into reached, found_at
    from (
        select w.depth, jsonb_agg(w.node_id) as nodes, bool_or(w.node_id = odl_graph_path.to_id) as found
        from odl.graph_walk(
            scope.tenant_id, odl_graph_path.doc_id, scope.sections, from_id, kinds, 'both', max_depth, max_nodes,
            to_id
        ) as w
        group by w.depth
    ) as l;
    if found_at is null then
        return;
    end if;
    here := to_id;
    for depth in reverse found_at..1 loop
        select
            p.node_id,
            array_agg(e.pointer order by e.pointer) as pointers,
            array_agg(distinct e.kind) as kinds,
            case when bool_and(e.to_id = here) then 'out' when bool_and(e.from_id = here) then 'in' else 'both' end
                as direction
        into step
        from odl.graph_edges as e
        cross join lateral (select case when e.to_id = here then e.from_id else e.to_id end as node_id) as p
        where e.tenant_id = scope.tenant_id and e.doc_id = odl_graph_path.doc_id
            and (e.from_id = here or e.to_id = here)
            and e.section = any(scope.sections) and (kinds is null or e.kind = any(kinds))
            and p.node_id in (select x.id from jsonb_array_elements_text(reached -> (depth - 1)::text) as x (id))
        group by p.node_id
        order by p.node_id
        limit 1;
        path := row(here, depth, step.direction, step.kinds, null, null, step.pointers)::odl.graph_hit || path;
        here := step.node_id;
    end loop;
    path := row(here, 0, null, null, null, null, null)::odl.graph_hit || path;
    return query
    select s.node_id, s.depth, s.direction, s.kinds,
        coalesce(array(
            select distinct g.label from odl.graph_nodes as g
            where g.tenant_id = scope.tenant_id and g.doc_id = odl_graph_path.doc_id and g.node_id = s.node_id
                and g.section = any(scope.sections) and g.label is not null
            order by g.label
        ), '{}'),
        coalesce(array(
            select g.pointer from odl.graph_nodes as g
            where g.tenant_id = scope.tenant_id and g.doc_id = odl_graph_path.doc_id and g.node_id = s.node_id
                and g.section = any(scope.sections)
            order by g.pointer
        ), '{}'),
        coalesce(s.edge_pointers, '{}')
    from unnest(path) as s
    order by s.depth;
end
$$;

revoke all on function odl.odl_graph_path(text, text, text, text[], integer, integer) from public;
grant execute on function odl.odl_graph_path(text, text, text, text[], integer, integer) to odl_app;
comment on function odl.odl_graph_path(text, text, text, text[], integer, integer) is
'A shortest path from from_id to to_id over readable edges of the kinds (null: any), taken either way: one row '
'per node from the start (depth 0), each with the edges from the node before (direction out: along them) and its '
'pointers; no row when there is none. ODC01, ODD01, ODR01, ODN01, ODN02, 22023';

create or replace function odl.odl_graph_components(
    doc_id text,
    kinds text[] default '{dc_power,ac_power}',
    max_depth integer default 64,
    max_nodes integer default 100000
)
returns table (component text, node_id text, labels text[], node_pointers text[], edge_pointers text[])
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- The connected components of the graph the readable edges of the kinds
-- form, taken either way: each node that is an end of one such edge,
-- labelled by the smallest id of its component. The smallest id spreads one
-- edge per round (a hashed join over the edges), so a component takes as
-- many rounds as it is wide: more than max_depth raise ODN02.
declare
    scope record := odl.graph_scope(doc_id);
    ends text [];
    froms text [];
    tos text [];
    labels jsonb;
    spread jsonb;
    rounds integer := 0;
begin
    if max_depth is null or max_depth not between 1 and 10000 then
        raise exception using
            errcode = '22023',
            message = 'max_depth must be between 1 and 10000',
            detail = format('max_depth %s', coalesce(max_depth::text, 'null'));
    end if;
    if max_nodes is null or max_nodes not between 1 and 1000000 then
        raise exception using
            errcode = '22023',
            message = 'max_nodes must be between 1 and 1000000',
            detail = format('max_nodes %s', coalesce(max_nodes::text, 'null'));
    end if;
    select coalesce(array_agg(e.from_id), '{}'), coalesce(array_agg(e.to_id), '{}') into froms, tos
    from odl.graph_edges as e
    where e.tenant_id = scope.tenant_id and e.doc_id = odl_graph_components.doc_id
        and e.section = any(scope.sections) and (kinds is null or e.kind = any(kinds));
    ends := array(select x.id from unnest(froms || tos) as x (id) group by x.id);
    if cardinality(ends) > max_nodes then
        raise exception using
            errcode = 'ODN01',
            message = 'graph components reach more nodes than max_nodes',
            detail = format('doc_id %s, %s nodes, max_nodes %s', doc_id, cardinality(ends), max_nodes),
            hint = 'Narrow the kinds or raise max_nodes.';
    end if;
    labels := (select coalesce(jsonb_object_agg(x.id, x.id), '{}') from unnest(ends) as x (id));
    loop
        spread := (
            select coalesce(jsonb_object_agg(m.id, m.label), '{}')
            from (
                select c.id, min(c.label) as label
                from (
                    select l.key as id, l.value as label from jsonb_each_text(labels) as l
                    union all
                    select u.f, labels ->> u.t from unnest(froms, tos) as u (f, t)
                    union all
                    select u.t, labels ->> u.f from unnest(froms, tos) as u (f, t)
                ) as c
                group by c.id
            ) as m
        );
        exit when spread = labels;
        rounds := rounds + 1;
        if rounds > max_depth then
            raise exception using
                errcode = 'ODN02',
                message = 'graph components are wider than max_depth',
                detail = format('doc_id %s, max_depth %s', doc_id, max_depth),
                hint = 'Narrow the kinds or raise max_depth.';
        end if;
        labels := spread;
    end loop;
    return query
    select
        l.value, l.key,
        coalesce(array(
            select distinct g.label from odl.graph_nodes as g
            where g.tenant_id = scope.tenant_id and g.doc_id = odl_graph_components.doc_id and g.node_id = l.key
                and g.section = any(scope.sections) and g.label is not null
            order by g.label
        ), '{}'),
        coalesce(array(
            select g.pointer from odl.graph_nodes as g
            where g.tenant_id = scope.tenant_id and g.doc_id = odl_graph_components.doc_id and g.node_id = l.key
                and g.section = any(scope.sections)
            order by g.pointer
        ), '{}'),
        array(
            select e.pointer from odl.graph_edges as e
            where e.tenant_id = scope.tenant_id and e.doc_id = odl_graph_components.doc_id
                and (e.from_id = l.key or e.to_id = l.key)
                and e.section = any(scope.sections) and (kinds is null or e.kind = any(kinds))
            order by e.pointer
        )
    from jsonb_each_text(labels) as l
    order by l.value, l.key;
end
$$;

revoke all on function odl.odl_graph_components(text, text[], integer, integer) from public;
grant execute on function odl.odl_graph_components(text, text[], integer, integer) to odl_app;
comment on function odl.odl_graph_components(text, text[], integer, integer) is
'The connected components of the document''s graph over readable edges of the kinds (default dc_power and '
'ac_power; null: any), taken either way: one row per node that ends such an edge, with its component (the '
'smallest id in it), labels and pointers, and the pointers of its edges. ODC01, ODD01, ODR01, ODN01, ODN02, 22023';
