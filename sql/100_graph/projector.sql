-- The graph projector: keeps odl.graph_nodes and odl.graph_edges equal to
-- the graph of each current document, from the pointers each version
-- changed. What the graph of a document is lies in two functions, which the
-- projector, the rebuild and the tests share.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODN01', 'graph_walk_too_large', 'A graph walk would reach more nodes than its max_nodes'),
('ODN02', 'graph_walk_too_deep', 'A graph walk goes on beyond its max_depth')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.graph_hierarchy_tree(doc jsonb)
returns table (pointer text, node jsonb)
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- Every object of the tree from /hierarchy down through nested children,
-- with its pointer; a child given by id (a string) is no object here.
begin
    return query
    with recursive tree (pointer, node) as (
        select '/hierarchy', doc -> 'hierarchy'
        where jsonb_typeof(doc -> 'hierarchy') = 'object'
        union all
        select t.pointer || '/children/' || (c.n - 1), c.value
        from tree as t
        cross join lateral jsonb_array_elements(
            case when jsonb_typeof(t.node -> 'children') = 'array' then t.node -> 'children' else '[]' end
        ) with ordinality as c (value, n)
        where jsonb_typeof(c.value) = 'object'
    )

    select t.pointer, t.node from tree as t;
end
$$;

revoke all on function odl.graph_hierarchy_tree(jsonb) from public;
comment on function odl.graph_hierarchy_tree(jsonb) is
'The (pointer, object) pairs of a document''s /hierarchy tree: the root and every nested child that is an object';

create or replace function odl.graph_node_rows(doc jsonb, of_section text, positions integer[] default null)
returns table (pointer text, section text, "position" integer, node_id text, label text) -- noqa: RF06
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- hierarchy: every node object of the tree from /hierarchy down through
-- nested children that has a string id (a child given by id is no node of
-- this document); its label is its type, else its level. instances: each
-- element that is an object with a string id (at the given positions, or
-- all). Every node is keyed by its pointer, so that a repeated id, which
-- the spec allows in the hierarchy, is a node of its own.
begin
    if of_section = 'hierarchy' then
        return query
        select t.pointer, 'hierarchy', null::integer, t.node ->> 'id',
            case when jsonb_typeof(t.node -> 'type') = 'string' then t.node ->> 'type' else t.node ->> 'level' end
        from odl.graph_hierarchy_tree(doc) as t
        where jsonb_typeof(t.node -> 'id') = 'string';
    elsif of_section = 'instances' then
        return query
        select '/instances/' || e.n, 'instances', e.n, e.value ->> 'id', e.value ->> 'type_ref'
        from odl.graph_elements(doc, 'instances', positions) as e
        where jsonb_typeof(e.value -> 'id') = 'string';
    end if;
end
$$;

revoke all on function odl.graph_node_rows(jsonb, text, integer[]) from public;
comment on function odl.graph_node_rows(jsonb, text, integer[]) is
'The graph nodes a document''s section (hierarchy or instances) gives, at the given positions of /instances or '
'all: (pointer, section, position, node_id, label)';

create or replace function odl.graph_elements(doc jsonb, of_section text, positions integer[] default null)
returns table (n integer, value jsonb)
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- The elements of the array /instances or /connections at the given
-- positions, or all of them; none when it is not an array. At positions
-- #> reaches each element without copying the array around it (doc ->
-- 'connections' copies the whole array, half of a large document).
declare
    is_array boolean := case of_section
        when 'instances' then doc @? 'strict $.instances ? (@.type() == "array")'
        when 'connections' then doc @? 'strict $.connections ? (@.type() == "array")'
        else false
    end;
begin
    if not is_array then
        return;
    end if;
    if positions is null then
        return query
        select (e.n - 1)::integer, e.value from jsonb_array_elements(doc -> of_section) with ordinality as e (value, n);
    else
        return query
        select p.n, e.value
        from unnest(positions) as p (n)
        cross join lateral (select doc #> array[of_section, p.n::text] as value) as e
        where e.value is not null;
    end if;
end
$$;

revoke all on function odl.graph_elements(jsonb, text, integer[]) from public;
comment on function odl.graph_elements(jsonb, text, integer[]) is
'The (index, value) pairs of the array /instances or /connections of a document, at the given positions or all';

create or replace function odl.graph_edge_rows(doc jsonb, of_section text, positions integer[] default null)
returns table (
    pointer text,
    section text,
    "position" integer, -- noqa: RF06
    kind text,
    from_id text,
    from_port text,
    to_id text,
    to_port text,
    connection_id text
)
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- hierarchy: a node with a string id gives an edge from its parent_id (a
-- string) and one to each child, given by id or as a node with a string id
-- (both forms of the spec; a nested child naming its parent gives two edges,
-- each citing its own pointer). instances: an element with a string id and
-- a string parent_ref gives the edge parent_ref -> id. connections: an
-- element whose from.instance_id and to.instance_id are strings gives the
-- edge from -> to, with its ports, kind and id.
begin
    if of_section = 'hierarchy' then
        return query
        -- Once: both branches read the tree.
        with tree as materialized (
            select h.pointer, h.node from odl.graph_hierarchy_tree(doc) as h
        )

        select t.pointer || '/parent_id', 'hierarchy', null::integer, 'contains',
            t.node ->> 'parent_id', null, t.node ->> 'id', null, null
        from tree as t
        where jsonb_typeof(t.node -> 'id') = 'string' and jsonb_typeof(t.node -> 'parent_id') = 'string'
        union all
        select t.pointer || '/children/' || (c.n - 1), 'hierarchy', null::integer, 'contains',
            t.node ->> 'id', null, coalesce(c.value ->> 'id', c.value #>> '{}'), null, null
        from tree as t
        cross join lateral jsonb_array_elements(
            case when jsonb_typeof(t.node -> 'children') = 'array' then t.node -> 'children' else '[]' end
        ) with ordinality as c (value, n)
        where jsonb_typeof(t.node -> 'id') = 'string'
            and (jsonb_typeof(c.value) = 'string' or jsonb_typeof(c.value -> 'id') = 'string');
    elsif of_section = 'instances' then
        return query
        select '/instances/' || e.n || '/parent_ref', 'instances', e.n, 'contains',
            e.value ->> 'parent_ref', null, e.value ->> 'id', null, null
        from odl.graph_elements(doc, 'instances', positions) as e
        where jsonb_typeof(e.value -> 'id') = 'string' and jsonb_typeof(e.value -> 'parent_ref') = 'string';
    elsif of_section = 'connections' then
        return query
        select '/connections/' || e.n, 'connections', e.n,
            case when jsonb_typeof(e.value -> 'kind') = 'string' then e.value ->> 'kind' end,
            e.value -> 'from' ->> 'instance_id',
            case when jsonb_typeof(e.value -> 'from' -> 'port_id') = 'string' then e.value -> 'from' ->> 'port_id' end,
            e.value -> 'to' ->> 'instance_id',
            case when jsonb_typeof(e.value -> 'to' -> 'port_id') = 'string' then e.value -> 'to' ->> 'port_id' end,
            case when jsonb_typeof(e.value -> 'id') = 'string' then e.value ->> 'id' end
        from odl.graph_elements(doc, 'connections', positions) as e
        where jsonb_typeof(e.value -> 'from' -> 'instance_id') = 'string'
            and jsonb_typeof(e.value -> 'to' -> 'instance_id') = 'string';
    end if;
end
$$;

revoke all on function odl.graph_edge_rows(jsonb, text, integer[]) from public;
comment on function odl.graph_edge_rows(jsonb, text, integer[]) is
'The graph edges a document''s section (hierarchy, instances or connections) gives, at the given positions of '
'/instances or /connections or all: (pointer, section, position, kind, from_id, from_port, to_id, to_port, '
'connection_id)';

create or replace function odl.project_graph(
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
-- A pointer at or below /hierarchy re-projects the hierarchy (a small
-- tree); one below /instances/N or /connections/N re-projects that element
-- only, unless it names a member the graph does not read (an instance's
-- lifecycle_status, a connection's attributes); /instances, /connections
-- or the root re-project the whole array.
-- Each re-projection compares the rows it computes with the stored rows of
-- the same scope by set differences (hashed or sorted, never a nested loop
-- over both) and writes only the difference, so that a plan cannot turn
-- quadratic in the size of the graph.
declare
    scope record;
begin
    for scope in
        with p as (
            select
                x.pointer,
                split_part(x.pointer, '/', 2) as head,
                split_part(x.pointer, '/', 3) as step,
                split_part(x.pointer, '/', 4) as member
            from unnest(coalesce(changed_pointers, '{""}')) as x (pointer)
        ),

        s as (
            select
                h.section,
                p.pointer = '' or p.step = '' or p.step !~ '^(0|[1-9][0-9]{0,8})$' as whole,
                case when p.step ~ '^(0|[1-9][0-9]{0,8})$' then p.step::integer end as n
            from p
            cross join lateral unnest(
                case when p.pointer = '' then array['hierarchy', 'instances', 'connections'] else array[p.head] end
            ) as h (section)
            where h.section in ('hierarchy', 'instances', 'connections')
                -- The members graph_node_rows and graph_edge_rows read.
                and (
                    p.member = ''
                    or h.section = 'hierarchy'
                    or h.section = 'instances' and p.member in ('id', 'type_ref', 'parent_ref')
                    or h.section = 'connections' and p.member in ('id', 'kind', 'from', 'to')
                )
        )

        select
            s.section,
            case
                when s.section = 'hierarchy' or bool_or(s.whole) then null
                else array_agg(distinct s.n)
            end as positions
        from s
        group by s.section
    loop
        perform odl.graph_sync(
            project_graph.tenant_id, project_graph.doc_id, project_graph.project_id, doc, scope.section,
            scope.positions
        );
    end loop;
end
$$;

revoke all on function odl.project_graph(text, text, text, integer, jsonb, text[]) from public;
comment on function odl.project_graph(text, text, text, integer, jsonb, text[]) is
'The graph projector: keeps odl.graph_nodes and odl.graph_edges equal to the document''s graph, re-projecting the '
'hierarchy, or the elements of /instances and /connections below which a pointer changed, else the whole array';

create or replace function odl.graph_sync(
    tenant_id text,
    doc_id text,
    project_id text,
    doc jsonb,
    section text,
    positions integer[]
)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
-- Makes the stored nodes and edges of a section (at the positions, or all)
-- equal to those the document gives, writing only rows that differ: a row
-- that changed is deleted by its pointer and inserted again.
-- The stored rows are read by two branches, one gated by "positions is
-- null", not by one "positions is null or position = any(positions)",
-- whose plan reads every row of the section to find three. The plans are
-- generic (plan_cache_mode): they estimate a document's rows from the
-- table's averages, where a custom plan takes a document created since the
-- last ANALYZE for one row and may read all of its rows (README,
-- "Statistics of the projections"). odl.project_instances does the same.
declare
    fresh_nodes odl.graph_nodes [];
    stale_nodes text [];
    fresh_edges odl.graph_edges [];
    stale_edges text [];
begin
    -- /connections gives edges only.
    if section <> 'connections' then
        with n as (
            select r.pointer, r.section, r.position, r.node_id, r.label
            from odl.graph_node_rows(doc, graph_sync.section, positions) as r
        ),

        o as (
            select g.pointer, g.section, g.position, g.node_id, g.label
            from odl.graph_nodes as g
            where g.tenant_id = graph_sync.tenant_id and g.doc_id = graph_sync.doc_id
                and g.section = graph_sync.section and positions is null
            union all
            select g.pointer, g.section, g.position, g.node_id, g.label
            from odl.graph_nodes as g
            where g.tenant_id = graph_sync.tenant_id and g.doc_id = graph_sync.doc_id
                and g.section = graph_sync.section and g.position = any(positions)
        ),

        f as (select * from n except select * from o)

        select
            array(
                select row(
                    graph_sync.tenant_id, graph_sync.doc_id, f.pointer, graph_sync.project_id, f.section, f.position,
                    f.node_id, f.label
                )::odl.graph_nodes
                from f
            ),
            array(select o.pointer from o except select n.pointer from n union select f.pointer from f)
        into fresh_nodes, stale_nodes;
    end if;

    with n as (
        select r.pointer, r.section, r.position, r.kind, r.from_id, r.from_port, r.to_id, r.to_port, r.connection_id
        from odl.graph_edge_rows(doc, graph_sync.section, positions) as r
    ),

    o as (
        select g.pointer, g.section, g.position, g.kind, g.from_id, g.from_port, g.to_id, g.to_port, g.connection_id
        from odl.graph_edges as g
        where g.tenant_id = graph_sync.tenant_id and g.doc_id = graph_sync.doc_id
            and g.section = graph_sync.section and positions is null
        union all
        select g.pointer, g.section, g.position, g.kind, g.from_id, g.from_port, g.to_id, g.to_port, g.connection_id
        from odl.graph_edges as g
        where g.tenant_id = graph_sync.tenant_id and g.doc_id = graph_sync.doc_id
            and g.section = graph_sync.section and g.position = any(positions)
    ),

    f as (select * from n except select * from o)

    select
        array(
            select row(
                graph_sync.tenant_id, graph_sync.doc_id, f.pointer, graph_sync.project_id, f.section, f.position,
                f.kind, f.from_id, f.from_port, f.to_id, f.to_port, f.connection_id
            )::odl.graph_edges
            from f
        ),
        array(select o.pointer from o except select n.pointer from n union select f.pointer from f)
    into fresh_edges, stale_edges;

    if cardinality(stale_nodes) > 0 then
        delete from odl.graph_nodes as g
        where g.tenant_id = graph_sync.tenant_id and g.doc_id = graph_sync.doc_id and g.pointer = any(stale_nodes);
        insert into odl.graph_nodes select * from unnest(fresh_nodes);
    end if;
    if cardinality(stale_edges) > 0 then
        delete from odl.graph_edges as g
        where g.tenant_id = graph_sync.tenant_id and g.doc_id = graph_sync.doc_id and g.pointer = any(stale_edges);
        insert into odl.graph_edges select * from unnest(fresh_edges);
    end if;
end
$$;

revoke all on function odl.graph_sync(text, text, text, jsonb, text, integer[]) from public;
comment on function odl.graph_sync(text, text, text, jsonb, text, integer[]) is
'Makes the stored graph rows of one section of a document (at the given positions, or all) equal to those the '
'document gives, writing only the rows that differ';

create or replace function odl.rebuild_graph(doc_id text)
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
    where d.doc_id = rebuild_graph.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', quote_nullable(rebuild_graph.doc_id));
    end if;
    perform odl.project_graph(
        stored.tenant_id, rebuild_graph.doc_id, stored.project_id, stored.version, stored.doc_json, '{""}'
    );
    return (
        select count(*)
        from odl.graph_edges as e
        where e.tenant_id = stored.tenant_id and e.doc_id = rebuild_graph.doc_id
    );
end
$$;

revoke all on function odl.rebuild_graph(text) from public;
comment on function odl.rebuild_graph(text) is
'Projects a stored document''s graph again from its current version, as a new document would be; returns how '
'many edges it has. For repair, tests and the first deploy of the projector';

insert into odl.document_projectors (projector, handler, run_order)
values ('graph', 'odl.project_graph(text, text, text, integer, jsonb, text[])', 200)
on conflict (projector) do update set handler = excluded.handler, run_order = excluded.run_order;

-- Documents stored before the projector existed are projected once here;
-- later deploys find them projected.
do $$
begin
    perform odl.project_graph(d.tenant_id, d.doc_id, d.project_id, d.version, d.doc_json, '{""}')
    from odl.odl_documents as d
    where not exists (select from odl.graph_nodes as g where g.tenant_id = d.tenant_id and g.doc_id = d.doc_id);
end
$$;
