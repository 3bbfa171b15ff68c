-- Verify odl-db:graph on pg

select tenant_id, doc_id, pointer, project_id, section, position, node_id, label from odl.graph_nodes where false;
select
    tenant_id, doc_id, pointer, project_id, section, position, kind, from_id, from_port, to_id, to_port,
    connection_id
from odl.graph_edges where false;
select (null::odl.graph_hit).edge_pointers;
-- Both tables under enabled and forced RLS.
select 1 / (count(*) = 2)::int
from pg_catalog.pg_class as c
where
    c.oid in ('odl.graph_nodes'::regclass, 'odl.graph_edges'::regclass)
    and c.relrowsecurity and c.relforcerowsecurity;
