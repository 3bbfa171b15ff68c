-- Deploy odl-db:graph to pg
-- requires: documents_v2
-- The graph of each current document, for grounding: its nodes (hierarchy
-- nodes and instances) and edges (hierarchy links, instances' parent links,
-- connections), each row keyed by the JSON pointer it is projected from.
-- The graph projector (change graph_api) keeps them equal to the documents.

begin;

create table odl.graph_nodes (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null,
    pointer text not null,
    project_id odl.ulid not null,
    section text not null,
    position integer,
    node_id text not null,
    label text,
    primary key (tenant_id, doc_id, pointer),
    foreign key (tenant_id, doc_id) references odl.odl_documents (tenant_id, doc_id) on delete cascade,
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade,
    constraint graph_nodes_section check (section in ('hierarchy', 'instances'))
);
comment on table odl.graph_nodes is
'Nodes of the graph of every current document: each hierarchy node and each instance with a string id, keyed by '
'its JSON pointer; kept equal to the documents by the graph projector';
comment on constraint graph_nodes_section on odl.graph_nodes is 'Nodes come from /hierarchy and /instances';
comment on column odl.graph_nodes.pointer is 'The JSON pointer of the node''s object in the document';
comment on column odl.graph_nodes.section is 'The section the node comes from: its readers may see it';
comment on column odl.graph_nodes.position is 'The instance''s index in /instances (null for a hierarchy node)';
comment on column odl.graph_nodes.label is 'A hierarchy node''s type (or level), an instance''s type_ref';
-- A walk names nodes by id; a projector re-projects one position.
create index graph_nodes_node_idx on odl.graph_nodes (tenant_id, doc_id, node_id);
create index graph_nodes_position_idx on odl.graph_nodes (tenant_id, doc_id, section, position);

create table odl.graph_edges (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null,
    pointer text not null,
    project_id odl.ulid not null,
    section text not null,
    position integer,
    kind text,
    from_id text not null,
    from_port text,
    to_id text not null,
    to_port text,
    connection_id text,
    primary key (tenant_id, doc_id, pointer),
    foreign key (tenant_id, doc_id) references odl.odl_documents (tenant_id, doc_id) on delete cascade,
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade,
    constraint graph_edges_section check (section in ('hierarchy', 'instances', 'connections'))
);
comment on table odl.graph_edges is
'Directed edges of the graph of every current document, keyed by the JSON pointer that states them: parent to '
'child (kind contains) from /hierarchy (parent_id, children) and /instances (parent_ref), and from to to of each '
'connection (kind: the connection''s kind); kept equal to the documents by the graph projector';
comment on constraint graph_edges_section on odl.graph_edges is
'Edges come from /hierarchy, /instances and /connections';
comment on column odl.graph_edges.pointer is
'The JSON pointer that states the edge: a parent_id, a children element, a parent_ref or a connection';
comment on column odl.graph_edges.section is 'The section the edge comes from: its readers may see it';
comment on column odl.graph_edges.position is
'The index in /instances or /connections of the element stating the edge (null in the hierarchy)';
comment on column odl.graph_edges.kind is 'contains (parent to child), or the connection''s kind';
comment on column odl.graph_edges.from_id is 'The parent''s id, or the connection''s from.instance_id';
comment on column odl.graph_edges.to_id is 'The child''s id, or the connection''s to.instance_id';
comment on column odl.graph_edges.connection_id is 'The connection''s id, when it has one';
-- Walks go both ways along edges; a projector re-projects one position.
create index graph_edges_from_idx on odl.graph_edges (tenant_id, doc_id, from_id);
create index graph_edges_to_idx on odl.graph_edges (tenant_id, doc_id, to_id);
create index graph_edges_position_idx on odl.graph_edges (tenant_id, doc_id, section, position);

alter table odl.graph_nodes enable row level security;
alter table odl.graph_nodes force row level security;
create policy tenant_isolation on odl.graph_nodes
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
alter table odl.graph_edges enable row level security;
alter table odl.graph_edges force row level security;
create policy tenant_isolation on odl.graph_edges
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

revoke all on odl.graph_nodes, odl.graph_edges from public;

-- What the walks return, one row per node reached.
create type odl.graph_hit as (
    node_id text,
    depth integer,
    direction text,
    kinds text [],
    labels text [],
    node_pointers text [],
    edge_pointers text []
);
comment on type odl.graph_hit is
'A node a graph function reached: its id, how many edges from the start, the direction the edges were followed '
'(out: from to to, in: to to from, both), their kinds, the node''s labels, and the JSON pointers of the node and of '
'the edges that reached it';

-- odl.adopt_objects() hands over tables, views and routines, not types.
alter type odl.graph_hit owner to odl_owner;

call odl.adopt_objects();

commit;
