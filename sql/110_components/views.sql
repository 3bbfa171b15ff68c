-- Analysts read the component index through these views. Like
-- odl.readable_instances they run as their owner under RLS (the context's
-- tenant only) and list only projects where the reader may read the
-- libraries section (R, and the clearance for its classification); the
-- index holds no priced or signed part. Security barriers: the filters run
-- before any condition of the reader's query.

create or replace view odl.readable_components
with (security_barrier)
as
with readable_nodes as (
    select n.node_id
    from (select distinct p.node_id from odl.projects as p where p.node_id is not null) as n
    cross join odl.current_context as c
    cross join lateral odl.user_rights(c.user_id, n.node_id) as r
    inner join odl.rbac_sections as s on r.section = s.section
    inner join odl.classification_levels as l on s.classification = l.level
    where r.section = 'libraries' and strpos(r.rights, 'R') > 0 and r.clearance >= l.rank
)

select
    i.project_id,
    i.doc_id,
    i.component_key,
    i.component_id,
    i.brand,
    i.part_number,
    i.rating_w,
    i.name,
    i.category,
    i.subcategory,
    i.unspsc,
    i.eclass,
    i.hs_code,
    i.gtin,
    i.status,
    i.tracking_level,
    i.occurrences,
    odl.component_pointer(i.entry, i.group_key, i.component_key) as pointer
from odl.component_index as i
inner join odl.projects as p on i.tenant_id = p.tenant_id and i.project_id = p.project_id
where p.node_id in (select rn.node_id from readable_nodes as rn);

revoke all on odl.readable_components from public;
grant select on odl.readable_components to odl_analyst;
grant execute on function odl.component_pointer(text, text, text) to odl_analyst;
comment on view odl.readable_components is
'Every library component of the current documents of projects where the reader may read the libraries section, '
'with its identity, classification codes and status, kept equal to the documents by the components projector '
'(odl_analyst). Filter by status, brand and part_number to use the covering index';
comment on column odl.readable_components.project_id is 'The project';
comment on column odl.readable_components.doc_id is 'The document whose /libraries/components holds it';
comment on column odl.readable_components.component_key is 'The name instances use in type_ref';
comment on column odl.readable_components.brand is 'component_identity.brand, else metadata.manufacturer';
comment on column odl.readable_components.part_number is 'component_identity.part_number, else metadata.model';
comment on column odl.readable_components.rating_w is 'component_identity.rating_w, else the entry''s rating_w';
comment on column odl.readable_components.name is 'component_identity.name (Brand_PartNumber_RatingW)';
comment on column odl.readable_components.category is 'The component''s category';
comment on column odl.readable_components.subcategory is 'The component''s subcategory';
comment on column odl.readable_components.unspsc is 'The UNSPSC code (8 digits)';
comment on column odl.readable_components.eclass is 'The eCl@ss code';
comment on column odl.readable_components.hs_code is 'The HS code (6 digits and an optional national suffix)';
comment on column odl.readable_components.gtin is 'The GTIN (8, 12, 13 or 14 digits)';
comment on column odl.readable_components.tracking_level is 'tracking_policy.level: quantity, lot or serial';
comment on column odl.readable_components.component_id is
'The CMP id (component_identity.component_id), else the entry''s id, else metadata.id, else component_key';
comment on column odl.readable_components.status is 'component_management.status (odl.component_statuses)';
comment on column odl.readable_components.pointer is 'The JSON pointer of the component in its document';
comment on column odl.readable_components.occurrences is
'How many entries of the document use the name (the first is shown)';

-- Every instance that references a library component of its project, with
-- the component's identity: readable where the reader may read both the
-- instances and the libraries section.
create or replace view odl.analyst_component_instances
with (security_barrier)
as
select
    i.project_id,
    i.doc_id as instance_doc_id,
    i.instance_id,
    i.lifecycle_status,
    i.parent_ref,
    c.doc_id as component_doc_id,
    c.component_key,
    c.component_id,
    c.brand,
    c.part_number,
    c.rating_w,
    c.status as component_status
from odl.readable_instances as i
inner join odl.readable_components as c on i.project_id = c.project_id and i.type_ref = c.component_key;

revoke all on odl.analyst_component_instances from public;
grant select on odl.analyst_component_instances to odl_analyst;
comment on view odl.analyst_component_instances is
'Every instance whose type_ref names a library component of a document of its project, with that component''s '
'identity and status, over odl.readable_instances and odl.readable_components (odl_analyst)';
comment on column odl.analyst_component_instances.project_id is 'The project';
comment on column odl.analyst_component_instances.instance_doc_id is 'The document holding the instance';
comment on column odl.analyst_component_instances.instance_id is 'The instance''s id';
comment on column odl.analyst_component_instances.parent_ref is 'The hierarchy node or instance it belongs to';
comment on column odl.analyst_component_instances.component_key is 'The component it names in type_ref';
comment on column odl.analyst_component_instances.component_id is
'The component''s CMP id, else its id, metadata.id or name';
comment on column odl.analyst_component_instances.brand is 'The component''s brand (or manufacturer)';
comment on column odl.analyst_component_instances.part_number is 'The component''s part number (or model)';
comment on column odl.analyst_component_instances.rating_w is 'The component''s rating in W';
comment on column odl.analyst_component_instances.component_doc_id is 'The document holding the component';
comment on column odl.analyst_component_instances.lifecycle_status is 'The instance''s lifecycle_status';
comment on column odl.analyst_component_instances.component_status is 'The component record''s status';
