-- Deploy odl-db:components to pg
-- requires: documents_v2
-- requires: policy_load
-- The component index and its status machine as data: the 19 normative
-- statuses of a component record (component_management.status), the
-- transitions between them with who may make them, who must approve them
-- and what the record must hold, and the projection of every library
-- component of every current document. The supplement's facts
-- (ODL-SD-SUPPLEMENT-FACTS.md 1.2-1.4) fill the tables; the README
-- (Components) says where odl-db had to choose.

begin;

create table odl.component_statuses (
    status text primary key,
    position integer not null unique,
    stage text not null,
    constraint component_statuses_name_format check (status ~ '^[a-z][a-z_]*$'),
    constraint component_statuses_stage_valid check (stage in ('intake', 'buying', 'service', 'end_of_life'))
);
comment on table odl.component_statuses is
'The 19 normative statuses of a component record (component_management.status), in the order of its life';
comment on column odl.component_statuses.stage is 'intake (draft .. available), buying, service or end_of_life';
comment on constraint component_statuses_name_format on odl.component_statuses is 'A status is a snake_case word';
comment on constraint component_statuses_stage_valid on odl.component_statuses is
'The supplement''s four groups of statuses';

insert into odl.component_statuses (status, position, stage) values
('draft', 1, 'intake'),
('parsed', 2, 'intake'),
('enriched', 3, 'intake'),
('dedupe_pending', 4, 'intake'),
('compliance_pending', 5, 'intake'),
('approved', 6, 'intake'),
('available', 7, 'intake'),
('rfq_open', 8, 'buying'),
('rfq_awarded', 9, 'buying'),
('purchasing', 10, 'buying'),
('ordered', 11, 'buying'),
('shipped', 12, 'buying'),
('received', 13, 'buying'),
('installed', 14, 'service'),
('commissioned', 15, 'service'),
('operational', 16, 'service'),
('warranty_active', 17, 'service'),
('retired', 18, 'end_of_life'),
('archived', 19, 'end_of_life');

-- What a transition may require of the component record, by name: a
-- jsonpath predicate over the component (the library entry), true when
-- the field is present.
create table odl.component_requirements (
    requirement text primary key,
    predicate jsonpath not null,
    description text not null,
    constraint component_requirements_name_format check (requirement ~ '^[a-z][a-z_]*$')
);
comment on table odl.component_requirements is
'Fields a status transition may require of the component, each a jsonpath predicate over the library entry';
comment on column odl.component_requirements.predicate is
'True when the field is present (jsonb @@ predicate; an error or null counts as absent)';
comment on constraint component_requirements_name_format on odl.component_requirements is
'A requirement is named by a snake_case word';

insert into odl.component_requirements (requirement, predicate, description) values
(
    'datasheet',
    'exists($.component_management.source_documents.datasheet ? (@.url.type() == "string"))',
    'component_management.source_documents.datasheet with its url'
),
(
    'brand',
    'exists($.component_management.component_identity.brand ? (@.type() == "string" && @ != ""))',
    'component_management.component_identity.brand'
),
(
    'part_number',
    'exists($.component_management.component_identity.part_number ? (@.type() == "string" && @ != ""))',
    'component_management.component_identity.part_number'
),
(
    'rating_w',
    'exists($.component_management.component_identity.rating_w ? (@.type() == "number" && @ >= 1))',
    'component_management.component_identity.rating_w, a number of at least 1'
),
(
    'classification',
    'exists($.component_management.component_identity.classification ? (@.unspsc != null || @.eclass != null))'
    ' || exists($.component_management.classification ? (@.unspsc != null || @.eclass != null))',
    'a UNSPSC or eCl@ss code in component_management.component_identity.classification (or '
    'component_management.classification)'
),
(
    'tracking_level',
    'exists($.component_management.tracking_policy.level ? (@ == "quantity" || @ == "lot" || @ == "serial"))',
    'component_management.tracking_policy.level: quantity, lot or serial'
),
(
    'supplier',
    'strict $.component_management.supplier_chain.suppliers.size() > 0',
    'at least one entry in component_management.supplier_chain.suppliers'
),
(
    'margins',
    'exists($.component_management.supplier_chain.commercials.margins ? '
    '(exists(@.total_margin_pct) && exists(@.currency) && exists(@.net_price)))',
    'component_management.supplier_chain.commercials.margins with total_margin_pct, currency and net_price'
),
(
    'approval_record',
    'exists($.component_management.approvals.records[*] ? (@.outcome == "approved"))',
    'a record with outcome approved in component_management.approvals.records'
);

-- The transitions. roles may make the change (the supplement's R; its A
-- may too); approver_roles are its A. A transition that needs approval is
-- made only by a write that one of approver_roles decides: the approver's
-- own write, or the merge of a change request by them.
create table odl.component_transitions (
    from_status text not null references odl.component_statuses (status),
    to_status text not null references odl.component_statuses (status),
    direction text not null,
    roles text[] not null,
    approver_roles text[] not null default '{}',
    needs_approval boolean not null default false,
    required text[] not null default '{}',
    trigger_event text not null,
    primary key (from_status, to_status),
    constraint component_transitions_moves check (from_status <> to_status),
    constraint component_transitions_direction_valid check (direction in ('forward', 'back', 'side')),
    constraint component_transitions_has_roles check (cardinality(roles) > 0),
    constraint component_transitions_approvable check (not needs_approval or cardinality(approver_roles) > 0)
);
comment on table odl.component_transitions is
'The status machine of a component record as data: each row one legal (from_status, to_status) change, who '
'may make it, who must approve it and what the record must hold. A change with no row is illegal';
comment on column odl.component_transitions.direction is
'forward (the happy path), back (a step back) or side (to archived, retired or a jump)';
comment on column odl.component_transitions.roles is
'The ODL-SD roles that may make the change (the supplement''s R); approver_roles may too';
comment on column odl.component_transitions.approver_roles is 'The roles that approve it (the supplement''s A)';
comment on column odl.component_transitions.needs_approval is
'True: only a write decided by one of approver_roles makes it (their own write, or their merge of a change '
'request an author in roles proposed)';
comment on column odl.component_transitions.required is
'The odl.component_requirements the record must meet after the change';
comment on column odl.component_transitions.trigger_event is 'What triggers the change, as the supplement says';
comment on constraint component_transitions_moves on odl.component_transitions is 'A transition changes the status';
comment on constraint component_transitions_direction_valid on odl.component_transitions is
'forward, back or side';
comment on constraint component_transitions_has_roles on odl.component_transitions is
'Somebody may make every legal change';
comment on constraint component_transitions_approvable on odl.component_transitions is
'A change that needs approval names who approves it';

-- The supplement's table (1.4) on the 19 normative statuses: the targets
-- and roles of the reference app's six other statuses (sourcing,
-- maintenance, quarantine, returned, recycling, cancelled) are left out.
-- Where it names no role (commissioned, operational: "[impl] operations";
-- retired: none) odl-db chose: technician_operator runs operations, and
-- retiring to archived is the intake's engineer / expert.
insert into odl.component_transitions (
    from_status, to_status, direction, roles, approver_roles, needs_approval, required, trigger_event
)
select t.from_status, t.to_status, t.direction, t.roles, t.approver_roles, t.needs_approval, t.required, t.trigger_event
from (
    values
    (
        'draft', 'parsed', 'forward', '{engineer}'::text[], '{expert}'::text[], false, '{datasheet}'::text[],
        'datasheet uploaded, parsed'
    ),
    ('draft', 'archived', 'side', '{engineer}', '{expert}', false, '{}', 'archived'),
    (
        'parsed', 'enriched', 'forward', '{engineer}', '{expert}', false,
        '{brand,part_number,rating_w,classification}', 'fields normalised, codes assigned'
    ),
    ('parsed', 'draft', 'back', '{engineer}', '{expert}', false, '{}', 'back one step'),
    ('parsed', 'archived', 'side', '{engineer}', '{expert}', false, '{}', 'archived'),
    ('enriched', 'dedupe_pending', 'forward', '{engineer}', '{expert}', false, '{}', 'duplicate check begins'),
    ('enriched', 'parsed', 'back', '{engineer}', '{expert}', false, '{}', 'back one step'),
    ('enriched', 'archived', 'side', '{engineer}', '{expert}', false, '{}', 'archived'),
    (
        'dedupe_pending', 'compliance_pending', 'forward', '{engineer}', '{expert}', false, '{}',
        'duplicates resolved, one master record'
    ),
    ('dedupe_pending', 'enriched', 'back', '{engineer}', '{expert}', false, '{}', 'back one step'),
    ('dedupe_pending', 'archived', 'side', '{engineer}', '{expert}', false, '{}', 'archived'),
    (
        'compliance_pending', 'approved', 'forward', '{engineer}', '{expert}', true,
        '{brand,part_number,classification,datasheet,tracking_level,supplier,approval_record}',
        'certificates checked, mandatory fields, approval record'
    ),
    ('compliance_pending', 'dedupe_pending', 'back', '{engineer}', '{expert}', false, '{}', 'back one step'),
    ('compliance_pending', 'archived', 'side', '{engineer}', '{expert}', false, '{}', 'archived'),
    (
        'approved', 'available', 'forward', '{supplier_manager}', '{project_manager,expert}', true,
        '{supplier,margins}', 'suppliers and margins set; approval gate'
    ),
    (
        'approved', 'compliance_pending', 'back', '{supplier_manager}', '{project_manager,expert}', false, '{}',
        'back one step'
    ),
    ('approved', 'archived', 'side', '{supplier_manager}', '{project_manager,expert}', false, '{}', 'archived'),
    ('available', 'rfq_open', 'forward', '{supplier_manager}', '{project_manager}', true, '{}', 'RFQ issued'),
    (
        'available', 'installed', 'side', '{supplier_manager}', '{project_manager}', false, '{}',
        'installed from stock'
    ),
    ('available', 'approved', 'back', '{supplier_manager}', '{project_manager}', false, '{}', 'back one step'),
    ('available', 'archived', 'side', '{supplier_manager}', '{project_manager}', false, '{}', 'archived'),
    ('rfq_open', 'rfq_awarded', 'forward', '{supplier_manager}', '{project_manager}', true, '{}', 'award made'),
    ('rfq_open', 'available', 'back', '{supplier_manager}', '{project_manager}', false, '{}', 'RFQ withdrawn'),
    ('rfq_open', 'archived', 'side', '{supplier_manager}', '{project_manager}', false, '{}', 'archived'),
    ('rfq_awarded', 'purchasing', 'forward', '{supplier_manager}', '{project_manager}', true, '{}', 'PO generated'),
    ('rfq_awarded', 'available', 'back', '{supplier_manager}', '{project_manager}', false, '{}', 'award withdrawn'),
    ('rfq_awarded', 'archived', 'side', '{supplier_manager}', '{project_manager}', false, '{}', 'archived'),
    (
        'purchasing', 'ordered', 'forward', '{supplier_manager}', '{project_manager}', false, '{}',
        'supplier acknowledges PO'
    ),
    ('purchasing', 'available', 'back', '{supplier_manager}', '{project_manager}', false, '{}', 'PO withdrawn'),
    ('purchasing', 'archived', 'side', '{supplier_manager}', '{project_manager}', false, '{}', 'archived'),
    (
        'ordered', 'shipped', 'forward', '{supplier_manager}', '{project_manager}', false, '{}',
        'dispatch (pickup event)'
    ),
    ('ordered', 'purchasing', 'back', '{supplier_manager}', '{project_manager}', false, '{}', 'back one step'),
    ('ordered', 'archived', 'side', '{supplier_manager}', '{project_manager}', false, '{}', 'archived'),
    ('shipped', 'received', 'forward', '{engineer}', '{}', false, '{}', 'delivered + goods receipt'),
    ('shipped', 'ordered', 'back', '{engineer}', '{}', false, '{}', 'back one step'),
    ('shipped', 'archived', 'side', '{engineer}', '{}', false, '{}', 'archived'),
    ('received', 'installed', 'forward', '{engineer}', '{expert}', false, '{}', 'installed (site scan)'),
    ('received', 'available', 'back', '{engineer}', '{expert}', false, '{}', 'back to stock'),
    ('received', 'archived', 'side', '{engineer}', '{expert}', false, '{}', 'archived'),
    ('installed', 'commissioned', 'forward', '{engineer}', '{expert}', false, '{}', 'commissioning events'),
    ('installed', 'operational', 'side', '{engineer}', '{expert}', false, '{}', 'commissioning events'),
    ('installed', 'received', 'back', '{engineer}', '{expert}', false, '{}', 'back one step'),
    ('installed', 'retired', 'side', '{engineer}', '{expert}', false, '{}', 'end of life'),
    ('commissioned', 'operational', 'forward', '{technician_operator}', '{}', false, '{}', 'acceptance'),
    ('commissioned', 'installed', 'back', '{technician_operator}', '{}', false, '{}', 'back one step'),
    ('commissioned', 'retired', 'side', '{technician_operator}', '{}', false, '{}', 'end of life'),
    ('operational', 'warranty_active', 'forward', '{technician_operator}', '{}', false, '{}', 'warranty start'),
    ('operational', 'commissioned', 'back', '{technician_operator}', '{}', false, '{}', 'back one step'),
    ('operational', 'retired', 'side', '{technician_operator}', '{}', false, '{}', 'end of life'),
    (
        'warranty_active', 'operational', 'back', '{technician_operator}', '{compliance_officer}', false, '{}',
        'claim closed'
    ),
    (
        'warranty_active', 'retired', 'side', '{technician_operator}', '{compliance_officer}', false, '{}',
        'expiry, end of life'
    ),
    ('retired', 'archived', 'forward', '{engineer}', '{expert}', false, '{}', 'decommissioned')
) as t (from_status, to_status, direction, roles, approver_roles, needs_approval, required, trigger_event);

-- Every role and requirement a transition names exists.
do $$
declare
    missing text;
begin
    select string_agg(distinct x.name, ', ') into missing
    from odl.component_transitions as t
    cross join lateral unnest(t.roles || t.approver_roles) as x (name)
    where not exists (select from odl.rbac_roles as r where r.role_id = x.name);
    if missing is not null then
        raise exception 'component transitions name unknown roles: %', missing;
    end if;
    select string_agg(distinct x.name, ', ') into missing
    from odl.component_transitions as t
    cross join lateral unnest(t.required) as x (name)
    where not exists (select from odl.component_requirements as q where q.requirement = x.name);
    if missing is not null then
        raise exception 'component transitions name unknown requirements: %', missing;
    end if;
end
$$;

-- The index: every library component of every current document, one row
-- per component name (the first entry that uses it).
create table odl.component_index (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null,
    component_key text not null,
    project_id odl.ulid not null,
    entry text not null,
    group_key text,
    occurrences integer not null,
    component_id text not null,
    brand text,
    part_number text,
    rating_w numeric,
    name text,
    category text,
    subcategory text,
    unspsc text,
    eclass text,
    hs_code text,
    gtin text,
    status text,
    tracking_level text,
    primary key (tenant_id, doc_id, component_key),
    foreign key (tenant_id, doc_id) references odl.odl_documents (tenant_id, doc_id) on delete cascade,
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade,
    constraint component_index_occurrences_positive check (occurrences >= 1)
);
-- The seed's question, approved components of a tenant by brand and part,
-- answered from this index alone (an index-only scan).
create index component_index_status_brand_part_idx
on odl.component_index (tenant_id, status, brand, part_number)
include (component_id, rating_w, project_id);
-- The projector re-projects the entries a patch touched.
create index component_index_entry_idx on odl.component_index (tenant_id, doc_id, entry);
-- It re-projects a whole document when a name repeats in it.
create index component_index_repeated_idx on odl.component_index (tenant_id, doc_id) where occurrences > 1;
comment on table odl.component_index is
'Projection of /libraries/components of every current document, kept equal to it by the components projector '
'(one row per component name; the first entry wins when a name repeats)';
comment on column odl.component_index.component_key is
'The name instances use in type_ref: the map key, or an array entry''s id (else its component_id)';
comment on column odl.component_index.entry is
'The member of /libraries/components holding the component: the map key or the array index (as text)';
comment on column odl.component_index.group_key is
'The group''s name when the map groups components (the published library files'' form); else null';
comment on column odl.component_index.occurrences is 'How many entries of the document use component_key';
comment on column odl.component_index.component_id is
'component_management.component_identity.component_id (CMP:<BRAND>:<PART>:<N>W:<REV>), else the entry''s id, '
'else metadata.id, else component_key';
comment on column odl.component_index.brand is 'component_identity.brand, else metadata.manufacturer';
comment on column odl.component_index.part_number is 'component_identity.part_number, else metadata.model';
comment on column odl.component_index.rating_w is 'component_identity.rating_w, else the entry''s rating_w';
comment on column odl.component_index.name is 'component_identity.name (Brand_PartNumber_RatingW)';
comment on column odl.component_index.unspsc is 'classification.unspsc (component_identity''s, else the record''s)';
comment on column odl.component_index.eclass is 'classification.eclass (eCl@ss)';
comment on column odl.component_index.hs_code is 'classification.hs_code';
comment on column odl.component_index.gtin is 'classification.gtin';
comment on column odl.component_index.status is
'component_management.status, the status the machine (odl.component_transitions) governs';
comment on column odl.component_index.tracking_level is 'component_management.tracking_policy.level';
comment on constraint component_index_occurrences_positive on odl.component_index is
'A row stands for at least one entry';

alter table odl.component_index enable row level security;
alter table odl.component_index force row level security;
create policy tenant_isolation on odl.component_index
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

revoke all on odl.component_statuses, odl.component_requirements, odl.component_transitions,
odl.component_index from public;

call odl.adopt_objects();

commit;
