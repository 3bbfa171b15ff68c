-- What the demo shows to an analyst: a person's login role, bound by the
-- tenant's administrator to a user, asks real questions of the analyst
-- views (odl.analyst_*) and sees only what that user may read. Loaded once
-- (as the superuser, through the API): a few committed patches and change
-- requests on the spec document of documents.sql, an auditor, and two
-- logins, demo_analyst bound to dara (data analyst at the Sunfield site)
-- and demo_auditor bound to ines (auditor at the Sunfield site).

\set SHOW_CONTEXT never
\set ON_ERROR_STOP on

select tenant_id as helios from odl.tenants where name = 'Helios Solar' \gset
select user_id as ada from odl.users where email = 'ada@helios.example' \gset
select user_id as ana from odl.users where email = 'ana@helios.example' \gset
select user_id as eve from odl.users where email = 'eve@helios.example' \gset
select user_id as dara from odl.users where email = 'dara@helios.example' \gset
select project_id as sunfield from odl.projects where name = 'Sunfield PV 50 MW' \gset
select node_id as sunfield_site from odl.nodes where name = 'Sunfield' and level = 'SITE' \gset
select (array_agg(d.doc_id order by d.created_at))[1] as spec_doc
from odl.odl_documents as d
where d.project_id = :'sunfield' and d.doc_json -> 'hierarchy' ? 'type' \gset

select not exists (select from odl.users where email = 'ines@helios.example') as need_analyst_data \gset
\if :need_analyst_data
set role odl_admin;
select odl.odl_create_user(:'helios', 'ines@helios.example', 'auditor_legal', false) as ines \gset
set role odl_app;
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select odl.odl_assign_role(:'ines', :'sunfield_site', 'auditor_legal') is null as done \gset
-- ada revises the equipment capex: finance needs an approver, so it waits.
select p.outcome from odl.odl_apply_patch(
    :'spec_doc', '[{"op": "replace", "path": "/finance/capex/equipment", "value": 30900000}]',
    (select h.version from odl.odl_document_heads(:'sunfield') as h where h.doc_id = :'spec_doc'),
    intent => 'equipment capex after the tender'
) as p \gset
select odl.odl_set_context(:'helios', :'ana') is null as done \gset
select p.outcome from odl.odl_apply_patch(
    :'spec_doc', '[{"op": "replace", "path": "/instances/3/lifecycle_status", "value": "commissioned"}]',
    (select h.version from odl.odl_document_heads(:'sunfield') as h where h.doc_id = :'spec_doc'),
    intent => 'inverter B01-INV01 recommissioned after repair'
) as p \gset
-- An engineer only proposes library changes; eve, an expert, merges this one.
select p.change_id as stow_change from odl.odl_apply_patch(
    :'spec_doc',
    jsonb_build_array(jsonb_build_object(
        'op', 'replace', 'path', '/libraries/components/tracker_row_2p/attributes/mechanical/wind_stow_ms', 'value', 16
    )),
    (select h.version from odl.odl_document_heads(:'sunfield') as h where h.doc_id = :'spec_doc'),
    intent => 'lower tracker stow speed after the storm review'
) as p \gset
select odl.odl_set_project_phase(:'sunfield', 'procurement') is null as done \gset
select odl.odl_set_context(:'helios', :'eve') is null as done \gset
select a.status from odl.odl_approve_change(:'stow_change', 'approved', 'storm review read') as a \gset
select odl.odl_set_context(:'helios', :'dara') is null as done \gset
select p.outcome from odl.odl_apply_patch(
    :'spec_doc', '[{"op": "replace", "path": "/analysis/0/outputs/p50_mwh", "value": 97500}]',
    (select h.version from odl.odl_document_heads(:'sunfield') as h where h.doc_id = :'spec_doc'),
    intent => 'energy yield re-run with 2025 soiling data'
) as p \gset
commit;
reset role;
\echo 'Loaded the analyst data: an auditor, 3 patches, 3 change requests (one merged).'
\endif
select user_id as ines from odl.users where email = 'ines@helios.example' \gset

-- The logins are the cluster's; each is bound once, by the administrator.
select not exists (select from pg_catalog.pg_roles where rolname = 'demo_analyst') as need_analyst \gset
\if :need_analyst
create role demo_analyst login in role odl_analyst;
\endif
select not exists (select from pg_catalog.pg_roles where rolname = 'demo_auditor') as need_auditor \gset
\if :need_auditor
create role demo_auditor login in role odl_analyst;
\endif
set role odl_app;
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select
    not exists (select from odl.odl_login_bindings() as b where b.login = 'demo_analyst') as bind_analyst,
    not exists (select from odl.odl_login_bindings() as b where b.login = 'demo_auditor') as bind_auditor
\gset
\if :bind_analyst
select odl.odl_bind_login('demo_analyst', :'dara') is null as done \gset
\endif
\if :bind_auditor
select odl.odl_bind_login('demo_auditor', :'ines') is null as done \gset
\endif
commit;
reset role;

\echo
\echo '== Analysts: a person''s login, bound to one user, reads the analyst views as that user.'
\echo '-- The bindings (odl_login_bindings(), as the tenant''s administrator):'
set role odl_app;
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select b.login, u.email, u.role
from odl.odl_login_bindings() as b
inner join odl.users as u on b.user_id = u.user_id
where b.login like 'demo\_%'
order by b.login;
commit;
reset role;

\c - demo_analyst
\echo
\echo '-- Connected as demo_analyst (psql -U demo_analyst), in dara''s context:'
select format('     begin; select odl.odl_set_context(%L, %L);', :'helios', :'dara') as context_line \gset
\echo :context_line
begin;
select odl.odl_set_context(:'helios', :'dara') is null as done \gset

\echo '-- 1. Which projects may I read, in which phase, under which node? (Harbour Rooftops is not dara''s)'
select p.project_name, p.phase, p.classification, p.documents, array_to_string(p.path_names, ' > ') as node_path
from odl.analyst_projects as p
order by p.phase, node_path;

\echo '-- 2. Who wrote how much, each day?'
select d.day, d.author_email, d.versions, d.operations
from odl.analyst_patches_daily as d
order by d.day desc, d.versions desc, d.author_email asc;
\echo '   and the latest versions, with their intent:'
select p.version, p.author_email, p.operations, p.changed_pointers, p.intent
from odl.analyst_patches as p
order by p.created_at desc, p.version desc
limit 6;

\echo '-- 3. Which change requests are waiting, and for how long?'
select c.status, c.kind, c.author_email, c.sections, c.intent, date_trunc('second', c.age) as age
from odl.analyst_change_requests as c
order by c.status asc, c.age desc;

\echo '-- 4. How many instances of each type are in each lifecycle status?'
select c.type_ref, c.lifecycle_status, sum(c.instances) as instances
from odl.analyst_instance_counts as c
group by c.type_ref, c.lifecycle_status
order by instances desc, c.type_ref asc
limit 8;

\echo '-- 5. The audit is confidential: a data analyst reads none of it'
select count(*) as audit_rows from odl.analyst_audit_actions;
commit;

\set ON_ERROR_STOP off
\echo '-- and demo_analyst can act as nobody else (ODC05), nor read a table:'
select odl.odl_set_context(:'helios', :'ada');
select count(*) from odl.odl_documents;

\c - demo_auditor
\echo
\echo '-- 5. Connected as demo_auditor (ines, auditor at the Sunfield site): what happened, by action and day?'
begin;
select odl.odl_set_context(:'helios', :'ines') is null as done \gset
select a.day, a.action, sum(a.events) as events
from odl.analyst_audit_actions as a
group by a.day, a.action
order by a.day desc, events desc, a.action asc;
commit;
\c - postgres
