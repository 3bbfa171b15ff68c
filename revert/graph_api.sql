-- Revert odl-db:graph_api from pg

begin;

delete from odl.document_projectors where projector = 'graph';
delete from odl.graph_edges;
delete from odl.graph_nodes;
delete from odl.error_codes where sqlstate in ('ODN01', 'ODN02');

drop function odl.odl_graph_components(text, text[], integer, integer);
drop function odl.odl_graph_path(text, text, text, text[], integer, integer);
drop function odl.odl_graph_downstream(text, text, text[], integer, integer);
drop function odl.odl_graph_upstream(text, text, text[], integer, integer);
drop function odl.odl_graph_neighbours(text, text, text[]);
drop function odl.graph_reach(text, text, text[], text, integer, integer, boolean);
drop function odl.graph_hits(text, text, text[], text[], text, jsonb);
drop function odl.graph_walk(text, text, text[], text, text[], text, integer, integer, text, boolean);
drop function odl.graph_scope(text);
drop function odl.rebuild_graph(text);
drop function odl.graph_sync(text, text, text, jsonb, text, integer[]);
drop function odl.project_graph(text, text, text, integer, jsonb, text[]);
drop function odl.graph_edge_rows(jsonb, text, integer[]);
drop function odl.graph_elements(jsonb, text, integer[]);
drop function odl.graph_node_rows(jsonb, text, integer[]);
drop function odl.graph_hierarchy_tree(jsonb);

commit;
