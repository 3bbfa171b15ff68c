-- The graph: its tables under forced RLS, the projector's registration, a
-- small plant projected through the API (both hierarchy forms, parent
-- links, connections with and without id), kept by a patch, and the walks
-- with their citations, rights and errors. The property test in
-- tests/python/test_graph.py drives random patches and generated plants.
begin;
select plan(28);

select has_table('odl', 'graph_nodes', 'graph nodes are a table');
select has_table('odl', 'graph_edges', 'graph edges are a table');
select col_is_pk('odl', 'graph_nodes', array['tenant_id', 'doc_id', 'pointer'], 'a node is keyed by its pointer');
select col_is_pk('odl', 'graph_edges', array['tenant_id', 'doc_id', 'pointer'], 'an edge is keyed by its pointer');
select policies_are('odl', 'graph_nodes', array['tenant_isolation']);
select policies_are('odl', 'graph_edges', array['tenant_isolation']);
select is(
    (
        select count(*)::integer from pg_catalog.pg_class as c
        where
            c.oid in ('odl.graph_nodes'::regclass, 'odl.graph_edges'::regclass)
            and c.relrowsecurity and c.relforcerowsecurity
    ),
    2,
    'row level security is enabled and forced on both graph tables'
);
select results_eq(
    $$
        select p.projector, p.handler::text, p.enabled
        from odl.document_projectors as p
        where p.projector = 'graph'
    $$,
    $$values ('graph', 'odl.project_graph(text,text,text,integer,jsonb,text[])', true)$$,
    'the graph projector is registered and enabled'
);
select ok(
    (select p.run_order from odl.document_projectors as p where p.projector = 'graph')
    between (select p.run_order from odl.document_projectors as p where p.projector = 'instances')
    and (select p.run_order from odl.document_projectors as p where p.projector = 'notify'),
    'the graph projector runs after the instances projector and before the notification'
);
select ok(
    not pg_catalog.has_function_privilege(
        'odl_app', 'odl.project_graph(text, text, text, integer, jsonb, text[])', 'execute'
    )
    and not pg_catalog.has_function_privilege('odl_app', 'odl.rebuild_graph(text)', 'execute')
    and not pg_catalog.has_table_privilege('odl_app', 'odl.graph_edges', 'select'),
    'only the owner projects the graph and reads its tables'
);

-- Fixtures: a tenant with its administrator, a super_user and a guest
-- without any role, and one small plant.
set local role odl_admin;
do $$
declare
    t text := odl.odl_create_tenant('Graph', 'EU');
begin
    perform set_config('fixture.tenant', t, true);
    perform set_config('fixture.admin', odl.odl_create_user(t, 'root@g.example', 'super_user'), true);
    perform set_config('fixture.user', odl.odl_create_user(t, 'ann@g.example', 'engineer'), true);
    perform set_config('fixture.nobody', odl.odl_create_user(t, 'gus@g.example', 'engineer'), true);
end
$$;
reset role;
set local role odl_app;
do $$
declare
    t constant text := current_setting('fixture.tenant');
    node text;
    project text;
begin
    perform odl.odl_set_context(t, current_setting('fixture.user'));
    project := odl.odl_create_project('Graph');
    perform odl.odl_set_context(t, current_setting('fixture.admin'));
    node := odl.odl_create_node(null, 'PORTFOLIO', 'Graph portfolio');
    perform odl.odl_attach_project(project, node);
    perform odl.odl_assign_role(current_setting('fixture.user'), node, 'super_user');
    perform odl.odl_set_context(t, current_setting('fixture.user'));
    perform set_config('fixture.doc', odl.odl_create_document(project, $json${
        "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
        "schema_version": "4.1",
        "meta": {"project": "graph"},
        "hierarchy": {"id": "PL", "type": "PLANT", "children": [
            {"id": "BL", "type": "BLOCK", "parent_id": "PL", "children": ["AR-EXT"]}
        ]},
        "instances": [
            {"id": "INV", "type_ref": "inverter", "parent_ref": "BL"},
            {"id": "S1", "type_ref": "string", "parent_ref": "INV"},
            {"id": "S2", "type_ref": "string", "parent_ref": "INV"},
            {"id": "M1", "type_ref": "module", "parent_ref": "S1"},
            {"id": "TX", "type_ref": "transformer", "parent_ref": "BL"}
        ],
        "connections": [
            {"id": "C1", "from": {"instance_id": "M1", "port_id": "out"},
             "to": {"instance_id": "S1", "port_id": "in"}, "kind": "dc_power"},
            {"from": {"instance_id": "S1", "port_id": "out"},
             "to": {"instance_id": "INV", "port_id": "dc1"}, "kind": "dc_power"},
            {"from": {"instance_id": "S2", "port_id": "out"},
             "to": {"instance_id": "INV", "port_id": "dc2"}, "kind": "dc_power"},
            {"from": {"instance_id": "INV", "port_id": "ac"},
             "to": {"instance_id": "TX", "port_id": "lv"}, "kind": "ac_power"},
            {"from": {"instance_id": "TX", "port_id": "data"},
             "to": {"instance_id": "INV", "port_id": "data"}, "kind": "data_modbus"}
        ]
    }$json$), true);
end
$$;
reset role;

select results_eq(
    $$
        select g.pointer, g.node_id, g.label from odl.graph_nodes as g
        where g.doc_id = current_setting('fixture.doc') order by g.pointer
    $$,
    $$
        values
        ('/hierarchy', 'PL', 'PLANT'), ('/hierarchy/children/0', 'BL', 'BLOCK'),
        ('/instances/0', 'INV', 'inverter'), ('/instances/1', 'S1', 'string'), ('/instances/2', 'S2', 'string'),
        ('/instances/3', 'M1', 'module'), ('/instances/4', 'TX', 'transformer')
    $$,
    'a new document projects its hierarchy nodes and instances, each at its pointer'
);
select results_eq(
    $$
        select g.pointer, g.kind, g.from_id, g.from_port, g.to_id, g.to_port, g.connection_id
        from odl.graph_edges as g
        where g.doc_id = current_setting('fixture.doc') order by g.pointer
    $$,
    $$
        values
        ('/connections/0', 'dc_power', 'M1', 'out', 'S1', 'in', 'C1'),
        ('/connections/1', 'dc_power', 'S1', 'out', 'INV', 'dc1', null),
        ('/connections/2', 'dc_power', 'S2', 'out', 'INV', 'dc2', null),
        ('/connections/3', 'ac_power', 'INV', 'ac', 'TX', 'lv', null),
        ('/connections/4', 'data_modbus', 'TX', 'data', 'INV', 'data', null),
        ('/hierarchy/children/0', 'contains', 'PL', null, 'BL', null, null),
        ('/hierarchy/children/0/children/0', 'contains', 'BL', null, 'AR-EXT', null, null),
        ('/hierarchy/children/0/parent_id', 'contains', 'PL', null, 'BL', null, null),
        ('/instances/0/parent_ref', 'contains', 'BL', null, 'INV', null, null),
        ('/instances/1/parent_ref', 'contains', 'INV', null, 'S1', null, null),
        ('/instances/2/parent_ref', 'contains', 'INV', null, 'S2', null, null),
        ('/instances/3/parent_ref', 'contains', 'S1', null, 'M1', null, null),
        ('/instances/4/parent_ref', 'contains', 'BL', null, 'TX', null, null)
    $$,
    'edges come from nested children, child ids and parent_id, parent_ref, and connections with their ports'
);

set local role odl_app;
select odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.user'));
select results_eq(
    $$
        select h.node_id, h.depth, h.direction, h.kinds, h.labels, h.node_pointers, h.edge_pointers
        from odl.odl_graph_upstream(current_setting('fixture.doc'), 'TX') as h
    $$,
    $$
        values
        ('INV', 1, 'in', '{ac_power}'::text [], '{inverter}'::text [], '{/instances/0}'::text [],
            '{/connections/3}'::text []),
        ('S1', 2, 'in', '{dc_power}', '{string}', '{/instances/1}', '{/connections/1}'),
        ('S2', 2, 'in', '{dc_power}', '{string}', '{/instances/2}', '{/connections/2}'),
        ('M1', 3, 'in', '{dc_power}', '{module}', '{/instances/3}', '{/connections/0}')
    $$,
    'upstream of the transformer along electrical connections: the inverter, its strings and the module, cited'
);
select results_eq(
    $$select h.node_id, h.depth from odl.odl_graph_downstream(current_setting('fixture.doc'), 'M1') as h$$,
    $$values ('S1', 1), ('INV', 2), ('TX', 3)$$,
    'downstream of a module: its string, the inverter, the transformer'
);
select results_eq(
    $$
        select h.node_id, h.direction, h.kinds, h.edge_pointers
        from odl.odl_graph_neighbours(current_setting('fixture.doc'), 'INV') as h
    $$,
    $$
        values
        ('BL', 'in', '{contains}'::text [], '{/instances/0/parent_ref}'::text []),
        ('S1', 'both', '{contains,dc_power}', '{/connections/1,/instances/1/parent_ref}'),
        ('S2', 'both', '{contains,dc_power}', '{/connections/2,/instances/2/parent_ref}'),
        ('TX', 'both', '{ac_power,data_modbus}', '{/connections/3,/connections/4}')
    $$,
    'neighbours either way, with every edge between'
);
select results_eq(
    $$
        select h.node_id, h.depth, h.direction, h.edge_pointers
        from odl.odl_graph_path(current_setting('fixture.doc'), 'M1', 'S2', '{dc_power}') as h
    $$,
    $$
        values
        ('M1', 0, null, '{}'::text []), ('S1', 1, 'out', '{/connections/0}'),
        ('INV', 2, 'out', '{/connections/1}'), ('S2', 3, 'in', '{/connections/2}')
    $$,
    'a shortest path from a module to another string, each step with its edge and direction'
);
select is_empty(
    $$select * from odl.odl_graph_path(current_setting('fixture.doc'), 'M1', 'PL', '{dc_power,ac_power}')$$,
    'no path, no rows'
);
select results_eq(
    $$select c.component, c.node_id from odl.odl_graph_components(current_setting('fixture.doc')) as c$$,
    $$values ('INV', 'INV'), ('INV', 'M1'), ('INV', 'S1'), ('INV', 'S2'), ('INV', 'TX')$$,
    'one electrical component, named by its smallest id'
);
select throws_ok(
    $$select * from odl.odl_graph_upstream(current_setting('fixture.doc'), 'TX', max_depth => 2)$$,
    'ODN02', 'graph walk goes on beyond max_depth',
    'a walk that would go deeper than max_depth raises ODN02'
);
select throws_ok(
    $$select * from odl.odl_graph_upstream(current_setting('fixture.doc'), 'TX', max_nodes => 3)$$,
    'ODN01', 'graph walk reaches more nodes than max_nodes',
    'a walk that would reach more than max_nodes raises ODN01'
);
select throws_ok(
    $$select * from odl.odl_graph_upstream(current_setting('fixture.doc'), 'TX', max_nodes => 0)$$,
    '22023', 'max_nodes must be between 1 and 1000000',
    'limits out of range are refused'
);
select throws_ok(
    $$select * from odl.odl_graph_neighbours(odl.odl_ulid(), 'TX')$$,
    'ODD01', 'document does not exist',
    'an unknown document is ODD01'
);

-- A patch moves the second string to the transformer: only that
-- connection's edge changes.
select is(
    (
        select p.version from odl.odl_apply_patch(
            current_setting('fixture.doc'),
            '[{"op": "replace", "path": "/connections/2/to/instance_id", "value": "TX"}]', 1
        ) as p
    ),
    2,
    'the patch applies'
);
reset role;
select results_eq(
    $$
        select g.pointer, g.from_id, g.to_id from odl.graph_edges as g
        where g.doc_id = current_setting('fixture.doc') and g.section = 'connections' order by g.pointer
    $$,
    $$
        values ('/connections/0', 'M1', 'S1'), ('/connections/1', 'S1', 'INV'), ('/connections/2', 'S2', 'TX'),
        ('/connections/3', 'INV', 'TX'), ('/connections/4', 'TX', 'INV')
    $$,
    'the patched connection''s edge follows it'
);
-- A rebuild (repair, and the first deploy) gives the same rows back.
create temp table kept as
select g.pointer, g.kind, g.from_id, g.to_id from odl.graph_edges as g where g.doc_id = current_setting('fixture.doc');
delete from odl.graph_edges as g where g.doc_id = current_setting('fixture.doc') and g.section <> 'hierarchy';
select is(odl.rebuild_graph(current_setting('fixture.doc')), 13, 'a rebuild counts the document''s edges');
select set_eq(
    $$select g.pointer, g.kind, g.from_id, g.to_id from odl.graph_edges as g
    where g.doc_id = current_setting('fixture.doc')$$,
    $$select * from kept$$,
    'a rebuild restores the edges that were lost'
);
set local role odl_app;
select odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.user'));
select results_eq(
    $$select h.node_id, h.depth from odl.odl_graph_upstream(current_setting('fixture.doc'), 'TX') as h$$,
    $$values ('INV', 1), ('S2', 1), ('S1', 2), ('M1', 3)$$,
    'the walk sees the patched graph'
);
select odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.nobody'));
select throws_ok(
    $$select * from odl.odl_graph_neighbours(current_setting('fixture.doc'), 'TX')$$,
    'ODR01', 'permission denied: the graph needs R on hierarchy, instances or connections',
    'a user without rights at the project learns nothing of its graph'
);
reset role;

select * from finish();
rollback;
