-- Revert odl-db:graph from pg

begin;

drop type odl.graph_hit;
drop table odl.graph_edges;
drop table odl.graph_nodes;

commit;
