-- Verify odl-db:components_api on pg

select 'odl.component_transition_refusal(text, text, text[], text[], jsonb)'::regprocedure;
select 'odl.component_write_roles(text, text, text)'::regprocedure;
select 'odl.component_rows(text, text, text, jsonb, text[])'::regprocedure;
select 'odl.component_pointer(text, text, text)'::regprocedure;
select 'odl.project_components(text, text, text, integer, jsonb, text[])'::regprocedure;
select 'odl.rebuild_components(text)'::regprocedure;
select 'odl.odl_set_component_status(text, text, text, integer, text, boolean)'::regprocedure;
select 1 / count(*)::int from odl.document_projectors where projector = 'components' and enabled;
select 1 / (count(*) = 5)::int from odl.error_codes where sqlstate like 'ODK__';
select
    project_id, doc_id, component_key, component_id, brand, part_number, rating_w, name, category, subcategory,
    unspsc, eclass, hs_code, gtin, status, tracking_level, pointer, occurrences
from odl.readable_components where false;
select
    project_id, instance_doc_id, instance_id, lifecycle_status, parent_ref, component_doc_id, component_key,
    component_id, brand, part_number, rating_w, component_status
from odl.analyst_component_instances where false;
select 1 / (count(*) = 2)::int
from pg_catalog.pg_class as c
where
    c.oid in ('odl.readable_components'::regclass, 'odl.analyst_component_instances'::regclass)
    and 'security_barrier=true' = any(c.reloptions)
    and pg_catalog.has_table_privilege('odl_analyst', c.oid, 'SELECT')
    and not pg_catalog.has_table_privilege('odl_app', c.oid, 'SELECT');
