-- What the demo shows: access control in Helios Solar. Rights on documents
-- come only from role assignments at nodes of the hierarchy (the nearest
-- node with an assignment wins); changes to some sections wait for an
-- approver; the project's phase locks sections; reads are redacted to what
-- the reader may see. As odl_app, in one transaction rolled back at the end.

\set SHOW_CONTEXT never

select tenant_id as helios from odl.tenants where name = 'Helios Solar' \gset
select user_id as ada from odl.users where email = 'ada@helios.example' \gset
select user_id as ana from odl.users where email = 'ana@helios.example' \gset
select user_id as eve from odl.users where email = 'eve@helios.example' \gset
select user_id as dara from odl.users where email = 'dara@helios.example' \gset
select user_id as gus from odl.users where email = 'gus@helios.example' \gset
select project_id as sunfield from odl.projects where name = 'Sunfield PV 50 MW' \gset
select project_id as harbour from odl.projects where name = 'Harbour Rooftops' \gset

\echo
\echo '== Access control: who may read, write, propose and approve what, and where.'
\echo '(As odl_app, in one transaction that is rolled back at the end.)'
\c - odl_app
\set ON_ERROR_ROLLBACK on
\set document `/usr/bin/python3 fixtures/odlsd.py 12000 3`
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset

\echo '-- the roles of Helios Solar''s users, each held at a node of the hierarchy:'
select
    u.email,
    a.role_id as role,
    n.level,
    n.name as node,
    (select string_agg(p.name, ', ' order by p.name) from odl.projects as p where p.node_id = n.node_id) as projects
from odl.rbac_assignments as a
inner join odl.users as u on a.tenant_id = u.tenant_id and a.user_id = u.user_id
inner join odl.nodes as n on a.tenant_id = n.tenant_id and a.node_id = n.node_id
where a.revoked_at is null
order by cardinality(n.path), n.name, u.email;

\echo '-- what that gives them on some sections of Sunfield PV 50 MW (odl_effective_rights):'
\echo '   R read, W write, P propose, A approve, X execute, S support'
select
    u.email,
    odl.odl_effective_rights(u.user_id, :'sunfield', 'instances') as instances,
    odl.odl_effective_rights(u.user_id, :'sunfield', 'libraries') as libraries,
    odl.odl_effective_rights(u.user_id, :'sunfield', 'analysis') as analysis,
    odl.odl_effective_rights(u.user_id, :'sunfield', 'finance') as finance,
    odl.odl_effective_rights(u.user_id, :'sunfield', 'governance') as governance
from odl.users as u
order by u.email;

\echo '-- ada (super_user at the portfolio) creates a document: W on meta and R on every section it holds'
select odl.odl_create_document(:'sunfield', :'document') as doc \gset
select version, doc_hash from odl.odl_document_heads(:'sunfield');

\echo
\echo '-- ana (engineer) installs an inverter: W on instances and meta, so the patch is applied'
select odl.odl_set_context(:'helios', :'ana') is null as done \gset
select version, outcome, change_id
from odl.odl_apply_patch(
    :'doc',
    '[{"op": "replace", "path": "/instances/3/lifecycle_status", "value": "installed"},
      {"op": "add", "path": "/meta/note", "value": "inverter B001-INV01 installed"}]',
    1,
    intent => 'inverter installed'
);

\echo '-- ana marks the inverter model received in the library, where an engineer only proposes:'
\echo '   the change is held for an approver and the document stays at version 2'
select version, outcome, change_id
from odl.odl_apply_patch(
    :'doc', '[{"op": "replace", "path": "/libraries/components/3/status", "value": "received"}]', 2,
    intent => 'inverters received'
);
select
    c.change_id,
    u.email as author,
    c.sections,
    c.reason,
    c.status
from odl.odl_change_requests(:'sunfield') as c
inner join odl.users as u on c.author_id = u.user_id
where c.doc_id = :'doc';
select c.change_id as library_change from odl.odl_change_requests(:'sunfield') as c where c.doc_id = :'doc' \gset

\echo '-- ana cannot approve her own change:'
select status from odl.odl_approve_change(:'library_change', 'approved');

\echo '-- eve (expert: an approver with A on libraries) approves it; it is merged as version 3:'
select odl.odl_set_context(:'helios', :'eve') is null as done \gset
select status, version from odl.odl_approve_change(:'library_change', 'approved', 'delivery note checked');
select
    g.document #>> '{libraries,components,3,part_number}' as component,
    g.document #>> '{libraries,components,3,status}' as status
from odl.odl_get_document(:'doc') as g;

\echo
\echo '-- phase gates. In design, dara (data analyst) updates the energy yield: applied'
select odl.odl_set_context(:'helios', :'dara') is null as done \gset
select version, outcome
from odl.odl_apply_patch(:'doc', '[{"op": "replace", "path": "/analysis/0/p50_mwh", "value": 97500}]', 3);

\echo '-- ana asks to move Sunfield PV 50 MW to procurement, eve approves, and the phase moves:'
select odl.odl_set_context(:'helios', :'ana') is null as done \gset
select odl.odl_set_project_phase(:'sunfield', 'procurement') as phase_change \gset
select odl.odl_set_context(:'helios', :'eve') is null as done \gset
select status from odl.odl_approve_change(:'phase_change', 'approved');
select project_name, phase from odl.project_summary where project_id = :'sunfield';

\echo '-- in procurement the analysis section is locked: dara''s next update is refused (ODG01)'
select odl.odl_set_context(:'helios', :'dara') is null as done \gset
select version, outcome
from odl.odl_apply_patch(:'doc', '[{"op": "replace", "path": "/analysis/0/p50_mwh", "value": 97000}]', 4);

\echo
\echo '-- gus (guest) reads the document: what he may not read is removed, and listed in redacted'
select odl.odl_set_context(:'helios', :'gus') is null as done \gset
select
    g.redacted,
    (select count(*) from jsonb_object_keys(g.document)) as keys_left
from odl.odl_get_document(:'doc') as g;

\echo '-- and a guest writes nothing:'
select version from odl.odl_apply_patch(:'doc', '[{"op": "remove", "path": "/meta/note"}]', 4);

\echo
\echo '-- why: ana is an engineer at the portfolio but a guest at the Harbour Rooftops plant,'
\echo '   and the nearest assignment wins. Her rights on instances:'
select
    odl.odl_effective_rights(:'ana', :'sunfield', 'instances') as at_sunfield,
    odl.odl_effective_rights(:'ana', :'harbour', 'instances') as at_harbour;

\echo '-- odl_explain_access(ana, Harbour Rooftops, instances): her assignments on the path, and why each counts'
select
    n.level,
    n.name as node,
    a.role,
    a.status,
    a.rights
from
    jsonb_to_recordset(odl.odl_explain_access(:'ana', :'harbour', 'instances') -> 'assignments')
        as a (node_id text, role text, status text, rights jsonb)
inner join odl.nodes as n on a.node_id = n.node_id
order by cardinality(n.path);

\echo '-- odl_explain_access(dara, Sunfield PV 50 MW, analysis): her rights, and the gate of the phase'
select
    e.x ->> 'phase' as phase,
    e.x -> 'rights' as rights,
    e.x -> 'phase_gates' as phase_gates
from (select odl.odl_explain_access(:'dara', :'sunfield', 'analysis') as x) as e;
rollback;
\set ON_ERROR_ROLLBACK off
