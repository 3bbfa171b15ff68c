-- Access control: the shape of its tables (forced RLS, grants: odl_app
-- reads change requests only through odl_change_requests()), every API
-- function's SQLSTATEs, the audit events the writing functions append,
-- and a clean odl_security_audit(). The fixtures are one tenant with a
-- PORTFOLIO > SITE > PLANT chain and a project under the PLANT.
begin;
select plan(134);

do $$
begin
    perform set_config(
        'fixture.approval_seq',
        coalesce(pg_catalog.pg_sequence_last_value('odl.approvals_approval_id_seq'), 0)::text,
        true
    );
end
$$;

-- as_user() sets the context of the tenant for one of the fixture users.
-- rows_of() returns a query's rows as JSON, or the error it raised, so that
-- a failing query fails its test only.

create function pg_temp.as_user(who text)
returns void
language sql
as $$
    select odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.' || who))
$$;

create function pg_temp.rows_of(statement text)
returns jsonb
language plpgsql
as $$
declare
    found jsonb;
begin
    execute format('select coalesce(jsonb_agg(to_jsonb(r)), ''[]'') from (%s) as r', statement) into found;
    return found;
exception when others then
    return to_jsonb(format('error %s: %s', sqlstate, sqlerrm));
end
$$;

-- The tables.

select has_table('odl', 'nodes', 'odl.nodes exists');
select has_table('odl', 'rbac_assignments', 'odl.rbac_assignments exists');
select has_table('odl', 'change_requests', 'odl.change_requests exists');
select has_table('odl', 'approvals', 'odl.approvals exists');
select col_is_pk('odl', 'nodes', array['tenant_id', 'node_id'], 'nodes are keyed by tenant and node');
select col_is_pk(
    'odl', 'rbac_assignments', array['tenant_id', 'assignment_id'], 'assignments are keyed by tenant and assignment'
);
select col_is_pk('odl', 'change_requests', array['tenant_id', 'change_id'], 'change requests are keyed by tenant');
select col_is_pk('odl', 'approvals', array['tenant_id', 'approval_id'], 'approvals are keyed by tenant');
select has_column('odl', 'projects', 'node_id', 'a project hangs under a node');
select results_eq(
    $$
        select c.relname::text collate "default", c.relrowsecurity, c.relforcerowsecurity
        from pg_catalog.pg_class as c
        where c.oid in ('odl.nodes'::regclass, 'odl.rbac_assignments'::regclass,
            'odl.change_requests'::regclass, 'odl.approvals'::regclass)
        order by 1
    $$,
    $$
        values ('approvals', true, true), ('change_requests', true, true), ('nodes', true, true),
        ('rbac_assignments', true, true)
    $$,
    'row level security is enabled and forced on the four access tables'
);
select policies_are('odl', 'nodes', array['tenant_isolation'], 'nodes are isolated by tenant');
select policies_are('odl', 'rbac_assignments', array['tenant_isolation'], 'assignments are isolated by tenant');
select policies_are('odl', 'change_requests', array['tenant_isolation'], 'change requests are isolated by tenant');
select policies_are('odl', 'approvals', array['tenant_isolation'], 'approvals are isolated by tenant');
select table_privs_are('odl', 'change_requests', 'odl_app', array[]::text[], 'odl_app cannot read change_requests');
select table_privs_are(
    'odl', 'change_requests', 'odl_analyst', array[]::text[], 'odl_analyst cannot read change_requests'
);
select table_privs_are('odl', 'nodes', 'odl_app', array['SELECT'], 'odl_app only reads nodes');
select table_privs_are('odl', 'rbac_assignments', 'odl_app', array['SELECT'], 'odl_app only reads assignments');
select table_privs_are('odl', 'approvals', 'odl_app', array['SELECT'], 'odl_app only reads approvals');
select table_privs_are('odl', 'readable_documents', 'odl_app', array[]::text[], 'readable_documents is for analysts');
select table_privs_are('odl', 'audit_trail', 'odl_app', array[]::text[], 'audit_trail is for analysts');
select table_privs_are(
    'odl', 'readable_documents', 'odl_analyst', array['SELECT'], 'odl_analyst reads readable_documents'
);
select table_privs_are('odl', 'audit_trail', 'odl_analyst', array['SELECT'], 'odl_analyst reads audit_trail');
select results_eq(
    $$
        select p.proname::text collate "default", pg_catalog.has_function_privilege('odl_app', p.oid, 'execute')
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'odl'::regnamespace and p.proname in (
            'odl_create_node', 'odl_attach_project', 'odl_assign_role', 'odl_revoke_role',
            'odl_effective_rights', 'odl_explain_access', 'odl_check_action', 'odl_set_project_phase',
            'odl_approve_change', 'odl_change_requests'
        )
        order by 1
    $$,
    $$
        values ('odl_approve_change', true), ('odl_assign_role', true), ('odl_attach_project', true),
        ('odl_change_requests', true), ('odl_check_action', true), ('odl_create_node', true),
        ('odl_effective_rights', true), ('odl_explain_access', true), ('odl_revoke_role', true),
        ('odl_set_project_phase', true)
    $$,
    'odl_app executes each access function'
);
select results_eq(
    $$select e.sqlstate::text from odl.error_codes as e where e.sqlstate ~ '^OD[RGH]' order by 1$$,
    $$
        values ('ODG01'), ('ODG02'), ('ODH01'), ('ODH02'), ('ODR01'), ('ODR02'), ('ODR03'), ('ODR04'),
        ('ODR05'), ('ODR06'), ('ODR07')
    $$,
    'the access SQLSTATEs are registered'
);

-- Fixtures: a tenant, its administrator (a human super_user with MFA),
-- an engineer, an expert, a project_manager, a guest without MFA, a
-- planner agent and an engineer without assignments.

set local role odl_admin;
do $$
declare
    tenant text := odl.odl_create_tenant('Access', 'EU');
begin
    perform set_config('fixture.tenant', tenant, true);
    perform set_config('fixture.admin', odl.odl_create_user(tenant, 'admin@access.example', 'super_user'), true);
    perform set_config('fixture.engineer', odl.odl_create_user(tenant, 'eng@access.example', 'engineer'), true);
    perform set_config('fixture.expert', odl.odl_create_user(tenant, 'exp@access.example', 'expert'), true);
    perform set_config('fixture.manager', odl.odl_create_user(tenant, 'pm@access.example', 'project_manager'), true);
    perform set_config('fixture.guest', odl.odl_create_user(tenant, 'guest@access.example', 'guest', false), true);
    perform set_config('fixture.outsider', odl.odl_create_user(tenant, 'out@access.example', 'engineer'), true);
    perform set_config(
        'fixture.agent', odl.odl_create_user(tenant, 'bot@access.example', 'consultant', true, 'planner_agent'), true
    );
end
$$;
select throws_ok(
    $$select odl.odl_create_user(current_setting('fixture.tenant'), 'bot2@access.example', 'engineer', true,
        'planner_agent')$$,
    'ODR02',
    'a planner_agent may not act as engineer',
    'odl_create_user() refuses a role the kind of agent may not take (ODR02)'
);
reset role;
set local role odl_app;

-- odl_create_node(parent_id, level, name).

select lives_ok($$select pg_temp.as_user('admin')$$, 'setup: the administrator acts');
do $$
begin
    perform set_config('fixture.portfolio', odl.odl_create_node(null, 'PORTFOLIO', 'Iberia'), true);
    perform set_config(
        'fixture.site', odl.odl_create_node(current_setting('fixture.portfolio'), 'SITE', 'Llanos'), true
    );
    perform set_config(
        'fixture.plant', odl.odl_create_node(current_setting('fixture.site'), 'PLANT', 'Llanos I'), true
    );
end
$$;
select results_eq(
    $$
        select n.level, n.parent_id::text, cardinality(n.path)
        from odl.nodes as n
        where n.node_id = current_setting('fixture.plant')
    $$,
    $$values ('PLANT', current_setting('fixture.site'), 3)$$,
    'odl_create_node() hangs a PLANT under its SITE with the path from the PORTFOLIO'
);
select throws_ok(
    $$select odl.odl_create_node(null, 'SITE', 'Orphan')$$,
    'ODH01',
    'a SITE needs a parent node',
    'a node below the top needs a parent (ODH01)'
);
select throws_ok(
    $$select odl.odl_create_node(current_setting('fixture.plant'), 'SITE', 'Upside down')$$,
    'ODH01',
    'a SITE cannot hang under a PLANT',
    'a level that does not fit under its parent is refused (ODH01)'
);
select throws_ok(
    $$select odl.odl_create_node(current_setting('fixture.portfolio'), 'PORTFOLIO', 'Nested')$$,
    'ODH01',
    'a PORTFOLIO cannot hang under a PORTFOLIO',
    'a PORTFOLIO under a PORTFOLIO is refused (ODH01)'
);
select throws_ok(
    $$select odl.odl_create_node(current_setting('fixture.plant'), 'GALAXY', 'Far')$$,
    'ODH01',
    '''GALAXY'' is no hierarchy level',
    'an unknown level is refused (ODH01)'
);
select throws_ok(
    $$select odl.odl_create_node('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'SITE', 'Nowhere')$$,
    'ODH02',
    'node or project does not exist',
    'an unknown parent is refused (ODH02)'
);
select throws_ok(
    $$select odl.odl_create_node(current_setting('fixture.site'), 'PLANT', 'Llanos I')$$,
    '23505',
    null,
    'siblings have distinct names'
);

-- odl_assign_role(user_id, node_id, role, valid_from, valid_until).

do $$
begin
    perform odl.odl_assign_role(current_setting('fixture.admin'), current_setting('fixture.portfolio'), 'super_user');
    perform odl.odl_assign_role(current_setting('fixture.engineer'), current_setting('fixture.portfolio'), 'engineer');
    perform odl.odl_assign_role(current_setting('fixture.expert'), current_setting('fixture.portfolio'), 'expert');
    perform odl.odl_assign_role(
        current_setting('fixture.manager'), current_setting('fixture.portfolio'), 'project_manager'
    );
    perform set_config(
        'fixture.guest_assignment',
        odl.odl_assign_role(current_setting('fixture.guest'), current_setting('fixture.site'), 'guest'),
        true
    );
end
$$;
select results_eq(
    $$
        select u.email::text, a.role_id, a.granted_by::text, a.valid_until is null
        from odl.rbac_assignments as a
        inner join odl.users as u on a.tenant_id = u.tenant_id and a.user_id = u.user_id
        where a.node_id = current_setting('fixture.site')
    $$,
    $$values ('guest@access.example', 'guest', current_setting('fixture.admin'), true)$$,
    'odl_assign_role() records the assignment, who granted it, open-ended by default'
);
select throws_ok(
    $$select odl.odl_assign_role(current_setting('fixture.guest'), current_setting('fixture.plant'), 'warlock')$$,
    'ODR07',
    'role ''warlock'' does not exist',
    'an unknown role is refused (ODR07)'
);
select throws_ok(
    $$select odl.odl_assign_role(current_setting('fixture.guest'), '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'guest')$$,
    'ODH02',
    'node does not exist',
    'an unknown node is refused (ODH02)'
);
select throws_ok(
    $$select odl.odl_assign_role(current_setting('fixture.guest'), current_setting('fixture.plant'), 'engineer')$$,
    'ODC04',
    'role requires multi-factor authentication, which the user does not have',
    'a role needing MFA is refused to a user without it (ODC04)'
);
select throws_ok(
    $$select odl.odl_assign_role(current_setting('fixture.agent'), current_setting('fixture.plant'),
        'technician_operator')$$,
    'ODR02',
    'a planner_agent may not act as technician_operator',
    'a role the kind of agent may not take is refused (ODR02)'
);
select throws_ok(
    $$select odl.odl_assign_role(current_setting('fixture.admin'), current_setting('fixture.plant'), 'guest',
        now(), now() - interval '1 day')$$,
    '23514',
    null,
    'a window that ends before it starts is refused'
);
select lives_ok(
    $$select odl.odl_assign_role(current_setting('fixture.agent'), current_setting('fixture.plant'), 'consultant')$$,
    'a planner_agent may act as consultant'
);
select lives_ok($$select pg_temp.as_user('engineer')$$, 'setup: the engineer acts');
select throws_ok(
    $$select odl.odl_create_node(null, 'PORTFOLIO', 'Mine')$$,
    'ODR01',
    'permission denied: only the tenant''s administrator creates top-level nodes',
    'only the administrator creates a PORTFOLIO (ODR01)'
);
select throws_ok(
    $$select odl.odl_create_node(current_setting('fixture.plant'), 'BLOCK', 'Block 9')$$,
    'ODR01',
    'permission denied: adding a node needs W on hierarchy',
    'adding a node needs W on hierarchy at the parent (ODR01)'
);
select throws_ok(
    $$select odl.odl_assign_role(current_setting('fixture.guest'), current_setting('fixture.plant'), 'guest')$$,
    'ODR06',
    'only a holder of an approver role assigns roles here',
    'an engineer assigns no roles (ODR06)'
);
select lives_ok($$select pg_temp.as_user('manager')$$, 'setup: the project_manager acts');
select throws_ok(
    $$select odl.odl_assign_role(current_setting('fixture.guest'), current_setting('fixture.plant'), 'super_user')$$,
    'ODR01',
    'permission denied: only the tenant''s administrator grants super_user or grants to themselves',
    'an approver grants no super_user (ODR01)'
);
select throws_ok(
    $$select odl.odl_assign_role(current_setting('fixture.manager'), current_setting('fixture.plant'), 'expert')$$,
    'ODR01',
    'permission denied: only the tenant''s administrator grants super_user or grants to themselves',
    'an approver grants nothing to themselves (ODR01)'
);
select lives_ok(
    $$select odl.odl_assign_role(current_setting('fixture.guest'), current_setting('fixture.plant'), 'client')$$,
    'a project_manager assigns client below the PORTFOLIO'
);

-- odl_revoke_role(user_id, node_id, role).

select is(
    odl.odl_revoke_role(current_setting('fixture.guest'), current_setting('fixture.plant'), 'client'),
    1,
    'odl_revoke_role() ends the assignment and counts it'
);
select is(
    odl.odl_revoke_role(current_setting('fixture.guest'), current_setting('fixture.plant'), 'client'),
    0,
    'revoking again ends nothing'
);
select throws_ok(
    $$select odl.odl_revoke_role(current_setting('fixture.guest'), current_setting('fixture.plant'), 'warlock')$$,
    'ODR07',
    'role ''warlock'' does not exist',
    'odl_revoke_role() of an unknown role raises ODR07'
);

-- odl_attach_project(project_id, node_id).

select lives_ok($$select pg_temp.as_user('admin')$$, 'setup: the administrator acts');
do $$
begin
    perform set_config('fixture.project', odl.odl_create_project('Llanos I'), true);
    perform odl.odl_attach_project(current_setting('fixture.project'), current_setting('fixture.plant'));
end
$$;
select is(
    (select p.node_id::text from odl.projects as p where p.project_id = current_setting('fixture.project')),
    current_setting('fixture.plant'),
    'odl_attach_project() hangs the project under the node'
);
select throws_ok(
    $$select odl.odl_attach_project('01ARZ3NDEKTSV4RRFFQ69G5FAV', current_setting('fixture.plant'))$$,
    'ODH02',
    'node or project does not exist',
    'attaching an unknown project raises ODH02'
);
select throws_ok(
    $$select odl.odl_attach_project(current_setting('fixture.project'), '01ARZ3NDEKTSV4RRFFQ69G5FAV')$$,
    'ODH02',
    'node does not exist',
    'attaching to an unknown node raises ODH02'
);
select lives_ok($$select pg_temp.as_user('engineer')$$, 'setup: the engineer acts');
select throws_ok(
    $$select odl.odl_attach_project(current_setting('fixture.project'), current_setting('fixture.site'))$$,
    'ODR01',
    'permission denied: attaching a project needs W on hierarchy',
    'moving a project needs W on hierarchy (ODR01)'
);

-- odl_effective_rights(), odl_explain_access() and odl_check_action().

select is(
    odl.odl_effective_rights(current_setting('fixture.engineer'), current_setting('fixture.project'), 'instances'),
    'RW',
    'an engineer holds RW on instances'
);
select is(
    odl.odl_effective_rights(current_setting('fixture.engineer'), current_setting('fixture.project'), 'libraries'),
    'RP',
    'an engineer may only propose in libraries'
);
select is(
    odl.odl_effective_rights(current_setting('fixture.guest'), current_setting('fixture.plant'), 'operations'),
    '',
    'a guest holds nothing on operations'
);
select throws_ok(
    $$select odl.odl_effective_rights(current_setting('fixture.engineer'), current_setting('fixture.project'),
        'gossip')$$,
    '22023',
    '''gossip'' is no section',
    'odl_effective_rights() of an unknown section raises 22023'
);
select throws_ok(
    $$select odl.odl_effective_rights(current_setting('fixture.engineer'), '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'meta')$$,
    'ODH02',
    'node or project does not exist',
    'odl_effective_rights() at an unknown node raises ODH02'
);
select is(
    odl.odl_explain_access(current_setting('fixture.engineer'), current_setting('fixture.project'), 'instances')
    - array['rule', 'path', 'assignments', 'phase_gates', 'approval_sections'],
    jsonb_build_object(
        'user_id', current_setting('fixture.engineer'), 'project_id', current_setting('fixture.project'),
        'phase', 'design', 'node_id', current_setting('fixture.plant'),
        'deciding_node_id', current_setting('fixture.portfolio'), 'rights', jsonb_build_object('instances', 'RW')
    ),
    'odl_explain_access() names the project, its node, the deciding node and the rights'
);
select is(
    jsonb_path_query_array(
        odl.odl_explain_access(current_setting('fixture.guest'), current_setting('fixture.plant')),
        '$.assignments[*].status'
    ),
    '["applies", "revoked"]',
    'at the PLANT, the guest''s assignment at the SITE applies; the revoked one there is listed as revoked'
);
select throws_ok(
    $$select odl.odl_explain_access(current_setting('fixture.engineer'), '01ARZ3NDEKTSV4RRFFQ69G5FAV')$$,
    'ODH02',
    'node or project does not exist',
    'odl_explain_access() at an unknown node raises ODH02'
);
select lives_ok(
    $$select odl.odl_check_action(current_setting('fixture.project'), 'run_analysis')$$,
    'an engineer may run an analysis (X on analysis)'
);
select throws_ok(
    $$select odl.odl_check_action(current_setting('fixture.project'), 'export_package')$$,
    'ODR01',
    'permission denied: export_package needs X on data_management',
    'an engineer may not export a package (ODR01)'
);
select throws_ok(
    $$select odl.odl_check_action(current_setting('fixture.project'), 'dance')$$,
    '22023',
    '''dance'' is no action',
    'an unknown action raises 22023'
);

-- A document, a proposal, an approval.

select lives_ok($$select pg_temp.as_user('admin')$$, 'setup: the administrator acts');
do $$
begin
    perform set_config('fixture.doc', $doc$
        {
            "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
            "schema_version": "4.1",
            "meta": {"project": "Llanos I", "domain": "PV", "scale": "UTILITY"},
            "hierarchy": {"id": "PLANT-01", "level": "PLANT", "name": "Llanos I"},
            "libraries": {"components": [{"id": "CMP:Volta:VSI-250:250000:A", "status": "draft"}]},
            "finance": {"currency": "EUR", "capex": {"equipment": 1000000}}
        }
    $doc$, true);
    perform set_config(
        'fixture.doc_id',
        odl.odl_create_document(current_setting('fixture.project'), current_setting('fixture.doc')::jsonb),
        true
    );
end
$$;
select lives_ok($$select pg_temp.as_user('engineer')$$, 'setup: the engineer acts');
select throws_ok(
    $$select odl.odl_create_document(current_setting('fixture.project'), current_setting('fixture.doc')::jsonb)$$,
    'ODR01',
    null,
    'an engineer cannot create a document holding finance (ODR01)'
);
select throws_ok(
    $$select * from odl.odl_apply_patch(current_setting('fixture.doc_id'),
        '[{"op": "add", "path": "/finance/opex", "value": 1}]', 1)$$,
    'ODR01',
    null,
    'an engineer cannot write finance (ODR01)'
);
do $$
begin
    perform set_config(
        'fixture.change',
        (
            select p.change_id
            from odl.odl_apply_patch(
                current_setting('fixture.doc_id'),
                '[{"op": "replace", "path": "/libraries/components/0/status", "value": "approved"}]', 1
            ) as p
        ),
        true
    );
end
$$;
select results_eq(
    $$
        select c.kind, c.reason, c.sections, c.status, c.base_version
        from odl.odl_change_requests(current_setting('fixture.project')) as c
        where c.change_id = current_setting('fixture.change')
    $$,
    $$values ('patch', 'proposal', array['libraries'], 'pending', 1)$$,
    'the engineer''s library patch waits as a change request'
);
select throws_ok(
    $$select * from odl.odl_approve_change(current_setting('fixture.change'), 'approved')$$,
    'ODR04',
    'the author of a change cannot decide it',
    'the author cannot approve (ODR04)'
);
select lives_ok($$select pg_temp.as_user('agent')$$, 'setup: the agent acts');
select throws_ok(
    $$select * from odl.odl_approve_change(current_setting('fixture.change'), 'approved')$$,
    'ODR06',
    'only a human holding an approver role may decide a change',
    'an agent cannot approve (ODR06)'
);
select lives_ok($$select pg_temp.as_user('expert')$$, 'setup: the expert acts');
select throws_ok(
    $$select * from odl.odl_approve_change(current_setting('fixture.change'), 'maybe')$$,
    '22023',
    'outcome must be approved or rejected, not ''maybe''',
    'an outcome other than approved or rejected raises 22023'
);
select throws_ok(
    $$select * from odl.odl_approve_change('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'approved')$$,
    'ODR03',
    'change request is not pending',
    'an unknown change raises ODR03'
);
select results_eq(
    $$
        select a.status, a.version
        from odl.odl_approve_change(current_setting('fixture.change'), 'approved', 'ok') as a
    $$,
    $$values ('merged', 2)$$,
    'the expert''s approval merges the change as version 2'
);
select results_eq(
    $$
        select a.section, a.outcome, a.approver_id::text, a.approver_role, a.comment
        from odl.approvals as a
        where a.change_id = current_setting('fixture.change')
    $$,
    $$values ('libraries', 'approved', current_setting('fixture.expert'), 'expert', 'ok')$$,
    'odl.approvals records the decision per section'
);
select is(
    (
        select d.document #>> '{libraries,components,0,status}'
        from odl.odl_get_document(current_setting('fixture.doc_id')) as d
    ),
    'approved',
    'the merged version holds the patch'
);
select throws_ok(
    $$select * from odl.odl_approve_change(current_setting('fixture.change'), 'approved')$$,
    'ODR03',
    'change request is not pending',
    'a decided change cannot be decided again (ODR03)'
);

-- Reads.

select lives_ok($$select pg_temp.as_user('engineer')$$, 'setup: the engineer acts');
select results_eq(
    $$select d.document ? 'finance', d.redacted from odl.odl_get_document(current_setting('fixture.doc_id')) as d$$,
    $$values (false, array['/finance', '/hierarchy'])$$,
    'odl_get_document() redacts finance and hierarchy for an engineer and says so'
);
select throws_ok(
    $$select * from odl.change_requests$$,
    '42501',
    null,
    'odl_app cannot select odl.change_requests'
);
select results_eq(
    $$
        select c.patch
        from odl.odl_change_requests(current_setting('fixture.project'), 'merged') as c
        where c.change_id = current_setting('fixture.change')
    $$,
    $$values ('[{"op": "replace", "path": "/libraries/components/0/status", "value": "approved"}]'::jsonb)$$,
    'odl_change_requests() shows the patch to a reader of its sections'
);
select lives_ok($$select pg_temp.as_user('outsider')$$, 'setup: a user without assignments acts');
select throws_ok(
    $$select * from odl.odl_get_document(current_setting('fixture.doc_id'))$$,
    'ODR01',
    'permission denied: reading a document needs R on some section of its project',
    'a user without an assignment over the project reads nothing (ODR01)'
);

-- odl_set_project_phase(project_id, phase).

select lives_ok($$select pg_temp.as_user('engineer')$$, 'setup: the engineer acts');
select throws_ok(
    $$select odl.odl_set_project_phase(current_setting('fixture.project'), 'construction')$$,
    'ODG02',
    'a project in design cannot move to ''construction''',
    'skipping a phase is refused (ODG02)'
);
select throws_ok(
    $$select odl.odl_set_project_phase(current_setting('fixture.project'), 'design')$$,
    'ODG02',
    'a project in design cannot move to ''design''',
    'staying in a phase is refused (ODG02)'
);
select throws_ok(
    $$select odl.odl_set_project_phase('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'procurement')$$,
    'ODH02',
    'node or project does not exist',
    'an unknown project raises ODH02'
);
do $$
begin
    perform set_config(
        'fixture.phase_change', odl.odl_set_project_phase(current_setting('fixture.project'), 'procurement'), true
    );
end
$$;
select is(
    (select p.phase from odl.projects as p where p.project_id = current_setting('fixture.project')),
    'design',
    'a requested phase change waits for approval'
);
select throws_ok(
    $$select * from odl.odl_approve_change(current_setting('fixture.phase_change'), 'approved')$$,
    'ODR04',
    'the author of a change cannot decide it',
    'the requester cannot approve the phase change (ODR04)'
);
select lives_ok($$select pg_temp.as_user('manager')$$, 'setup: the project_manager acts');
select results_eq(
    $$select a.status from odl.odl_approve_change(current_setting('fixture.phase_change'), 'approved') as a$$,
    $$values ('merged')$$,
    'the project_manager approves the phase change'
);
select is(
    (select p.phase from odl.projects as p where p.project_id = current_setting('fixture.project')),
    'procurement',
    'the approved phase change moves the project'
);
select lives_ok($$select pg_temp.as_user('admin')$$, 'setup: the administrator acts');
select throws_ok(
    $$select * from odl.odl_apply_patch(current_setting('fixture.doc_id'),
        '[{"op": "add", "path": "/analysis", "value": []}]', 2)$$,
    'ODG01',
    'the procurement phase locks section analysis',
    'procurement locks analysis, for super_user too (ODG01)'
);
select throws_ok(
    $$select * from odl.odl_apply_patch(current_setting('fixture.doc_id'),
        '[{"op": "add", "path": "/analysis", "value": []}]', 2, propose => true)$$,
    'ODG01',
    'the procurement phase locks section analysis',
    'a locked section admits no proposal either (ODG01)'
);

-- Analysts read the same redacted document through odl.readable_documents,
-- and audit only with R on audit.

reset role;
set local role odl_analyst;
select lives_ok($$select pg_temp.as_user('engineer')$$, 'setup: an analyst acts as the engineer');
select is(
    pg_temp.rows_of($$
        select r.version, r.redacted from odl.readable_documents as r where r.doc_id = current_setting('fixture.doc_id')
    $$),
    '[{"version": 2, "redacted": ["/finance", "/hierarchy"]}]',
    'odl.readable_documents redacts as odl_get_document() does'
);
select is(
    pg_temp.rows_of($$select a.action from odl.audit_trail as a$$),
    '[]',
    'odl.audit_trail shows an engineer, who may not read audit, no event'
);
select lives_ok($$select pg_temp.as_user('manager')$$, 'setup: an analyst acts as the project_manager');
select is(
    pg_temp.rows_of($$
        select a.action from odl.audit_trail as a
        where a.project_id = current_setting('fixture.project') and a.action = 'phase.changed'
    $$),
    '[{"action": "phase.changed"}]',
    'odl.audit_trail shows the project''s events to a project_manager'
);

-- The audit events of the writing functions.

reset role;
select set_has(
    $$select e.action from odl.audit_events as e where e.tenant_id = current_setting('fixture.tenant')$$,
    $$
        values ('node.created'), ('role.assigned'), ('role.revoked'), ('project.created'), ('project.attached'),
        ('document.created'), ('patch.proposed'), ('change.approved'), ('patch.applied'), ('phase.proposed'),
        ('phase.changed')
    $$,
    'every writing function appended its audit event'
);
select results_eq(
    $$
        select e.actor_id::text, e.payload ->> 'role', e.payload ->> 'node_id'
        from odl.audit_events as e
        where e.tenant_id = current_setting('fixture.tenant') and e.action = 'role.assigned'
            and e.payload ->> 'user_id' = current_setting('fixture.guest')
        order by e.seq
    $$,
    $$
        values (current_setting('fixture.admin'), 'guest', current_setting('fixture.site')),
        (current_setting('fixture.manager'), 'client', current_setting('fixture.plant'))
    $$,
    'role.assigned names the assigner, the role and the node'
);
select results_eq(
    $$
        select e.project_id::text, e.doc_id::text, e.payload ->> 'reason'
        from odl.audit_events as e
        where e.tenant_id = current_setting('fixture.tenant') and e.action = 'patch.proposed'
    $$,
    $$values (current_setting('fixture.project'), current_setting('fixture.doc_id'), 'proposal')$$,
    'patch.proposed names the project, the document and the reason'
);
select results_eq(
    $$
        select e.actor_id::text, e.payload ->> 'merged_version', e.payload ->> 'approver_role'
        from odl.audit_events as e
        where e.tenant_id = current_setting('fixture.tenant') and e.action = 'change.approved'
            and e.payload ->> 'kind' = 'patch'
    $$,
    $$values (current_setting('fixture.expert'), '2', 'expert')$$,
    'change.approved names the approver, the role and the merged version'
);
select results_eq(
    $$
        select e.actor_id::text, e.payload ->> 'from', e.payload ->> 'to'
        from odl.audit_events as e
        where e.tenant_id = current_setting('fixture.tenant') and e.action = 'phase.changed'
    $$,
    $$values (current_setting('fixture.manager'), 'design', 'procurement')$$,
    'phase.changed names the approver and both phases'
);
select results_eq(
    $$
        select count(*)::integer
        from odl.audit_events as e
        where e.tenant_id = current_setting('fixture.tenant') and e.action = 'node.created'
    $$,
    $$values (3)$$,
    'node.created is appended once per node'
);

-- Issue 10: what a caller may see of a change, and may do.

-- odl.redact_patch() shows a patch as a reader who reads only libraries,
-- below the clearance of the supplier pricing, may see it.
select is(
    odl.redact_patch(
        $$[
            {"op": "replace", "path": "/libraries/components/0/pricing/unit_price", "value": 2},
            {"op": "add", "path": "/libraries/components/-", "value": {"id": "C", "pricing": {"unit_price": 3}}},
            {"op": "add", "path": "/finance/capex", "value": 4},
            {"op": "move", "from": "/finance/opex", "path": "/libraries/x"},
            {"op": "copy", "from": "/libraries/components/0", "path": "/libraries/components/1"},
            {"op": "test", "path": "", "value": {"libraries": {"components": [{"pricing": 5}]}, "finance": 6}}
        ]$$,
        array['libraries'], array['/libraries/components/*/pricing']
    ),
    row(
        $$[
            {"op": "add", "path": "/libraries/components/-", "value": {"id": "C"}},
            {"op": "copy", "from": "/libraries/components/0", "path": "/libraries/components/1"},
            {"op": "test", "path": "", "value": {"libraries": {"components": [{}]}}}
        ]$$::jsonb,
        array['/finance', '/libraries/components/*/pricing']
    )::record,
    'odl.redact_patch() leaves out operations into hidden parts and sections and removes hidden parts from values'
);
select is(
    odl.redact_patch(
        '[{"op": "replace", "path": "/libraries/components/0/pricing", "value": 1}]',
        array['libraries'], array['/libraries/components/*/pricing']
    ),
    row(null::jsonb, array['/libraries/components/*/pricing'])::record,
    'odl.redact_patch() shows no patch when nothing of it is readable'
);
select results_eq(
    $$
        select p.pointers, odl.pointers_readable(p.pointers, array['libraries', 'meta'], array['/libraries/a/*/b'])
        from (
            values (array['/libraries/x', '/meta']), (array['/libraries/a/1']), (array['/libraries/a/1/b/c']),
                (array['/finance']), (array['']), (array['/libraries/a/1/c'])
        ) as p (pointers)
    $$,
    $$
        values (array['/libraries/x', '/meta'], true), (array['/libraries/a/1'], false),
            (array['/libraries/a/1/b/c'], false), (array['/finance'], false), (array[''], false),
            (array['/libraries/a/1/c'], true)
    $$,
    'odl.pointers_readable() is false in or above a hidden part, in an unreadable section and at the root'
);

-- Creating a project needs a human whose coarse role holds W on meta; a
-- later phase than the first needs the right that decides phase changes.

select lives_ok($$select pg_temp.as_user('guest')$$, 'setup: the guest acts');
select throws_ok(
    $$select odl.odl_create_project('Guest project')$$,
    'ODR01',
    'permission denied: creating a project needs a human user whose role holds W on meta',
    'a guest cannot create a project (ODR01)'
);
select lives_ok($$select pg_temp.as_user('agent')$$, 'setup: the agent acts');
select throws_ok(
    $$select odl.odl_create_project('Agent project', 'operations')$$,
    'ODR01',
    'permission denied: creating a project needs a human user whose role holds W on meta',
    'an AI agent cannot create a project (ODR01)'
);
select lives_ok($$select pg_temp.as_user('engineer')$$, 'setup: the engineer acts');
select throws_ok(
    $$select odl.odl_create_project('Late project', 'operations')$$,
    'ODR01',
    'permission denied: a project starts in design unless its creator may decide phase changes (A on governance)',
    'an engineer cannot create a project in a later phase (ODR01)'
);
select lives_ok($$select odl.odl_create_project('Early project')$$, 'an engineer creates a project in design');
select lives_ok($$select pg_temp.as_user('manager')$$, 'setup: the project_manager acts');
select lives_ok(
    $$select odl.odl_create_project('Late project', 'operations')$$,
    'a project_manager, who decides phase changes, creates a project in a later phase'
);
select results_eq(
    $$select p.name, p.phase from odl.projects as p where p.name in ('Early project', 'Late project') order by 1$$,
    $$values ('Early project', 'design'), ('Late project', 'operations')$$,
    'the projects are stored in their phases'
);

-- A revert names its document, target and expected version.

select lives_ok($$select pg_temp.as_user('admin')$$, 'setup: the administrator acts');
select throws_ok(
    $$select * from odl.odl_revert_document(current_setting('fixture.doc_id'), null, 2)$$,
    '22004',
    'doc_id, to_version and expected_version are required',
    'a revert to a null version is refused (22004)'
);
select throws_ok(
    $$select * from odl.odl_revert_document(current_setting('fixture.doc_id'), 1, null)$$,
    '22004',
    'doc_id, to_version and expected_version are required',
    'a revert without an expected version is refused (22004)'
);
select throws_ok(
    $$select * from odl.odl_revert_document(null, 1, 2)$$,
    '22004',
    'doc_id, to_version and expected_version are required',
    'a revert of a null document is refused (22004)'
);
select is(
    (select h.version from odl.odl_document_heads() as h where h.doc_id = current_setting('fixture.doc_id')),
    2,
    'the refused reverts made no version'
);

-- approval_id counts the tenant's approvals, not the shared sequence's.

reset role;
select results_eq(
    $$
        select a.approval_id
        from odl.approvals as a
        where a.tenant_id = current_setting('fixture.tenant')
        order by a.approval_id
    $$,
    $$values (1::bigint), (2::bigint)$$,
    'the tenant''s approvals are numbered 1 and 2'
);
select is(
    coalesce(pg_catalog.pg_sequence_last_value('odl.approvals_approval_id_seq'), 0),
    current_setting('fixture.approval_seq')::bigint,
    'the approvals did not advance the identity sequence every tenant shares'
);

-- Until the role odl_signer exists (the ledger's signer, being added), the
-- signing key is held by odl_owner, as in v0.1.0, and reported.
select is_empty(
    $$
        select * from odl.odl_security_audit()
        where finding <> 'signing_key_exposed' or to_regrole('odl_signer') is not null
    $$,
    'odl_security_audit() finds nothing'
);

select * from finish();
rollback;
