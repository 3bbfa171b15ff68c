-- Verify odl-db:graph_api on pg

select 1 / count(*)
from odl.document_projectors
where projector = 'graph' and handler = 'odl.project_graph(text, text, text, integer, jsonb, text[])'::regprocedure;

select
    'odl.rebuild_graph(text)'::regprocedure,
    'odl.graph_walk(text, text, text[], text, text[], text, integer, integer, text, boolean)'::regprocedure;

-- The grounding API, executable by applications.
select 1 / (count(*) = 5)::int
from pg_catalog.pg_proc as p
where p.oid in (
    'odl.odl_graph_neighbours(text, text, text[])'::regprocedure,
    'odl.odl_graph_upstream(text, text, text[], integer, integer)'::regprocedure,
    'odl.odl_graph_downstream(text, text, text[], integer, integer)'::regprocedure,
    'odl.odl_graph_path(text, text, text, text[], integer, integer)'::regprocedure,
    'odl.odl_graph_components(text, text[], integer, integer)'::regprocedure
)
and pg_catalog.has_function_privilege('odl_app', p.oid, 'EXECUTE');

select 1 / count(*) from odl.error_codes where sqlstate = 'ODN02';
