-- Verify odl-db:components on pg

select status, position, stage from odl.component_statuses where false;
select requirement, predicate, description from odl.component_requirements where false;
select
    from_status, to_status, direction, roles, approver_roles, needs_approval, required, trigger_event
from odl.component_transitions where false;
select
    tenant_id, doc_id, component_key, project_id, entry, group_key, occurrences, component_id, brand, part_number,
    rating_w, name, category, subcategory, unspsc, eclass, hs_code, gtin, status, tracking_level
from odl.component_index where false;
select 1 / (count(*) = 19)::int from odl.component_statuses;
select 1 / (count(*) > 0)::int from odl.component_transitions;
select 1 / (c.relrowsecurity and c.relforcerowsecurity)::int
from pg_catalog.pg_class as c where c.oid = 'odl.component_index'::regclass;
select 'odl.component_index_status_brand_part_idx'::regclass;
