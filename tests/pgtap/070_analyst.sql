-- The analyst views: their shape (security barriers that run as odl_owner,
-- every column commented), who may read them (odl_analyst only, and no raw
-- table of tenant data), and what they show a reader in a context and
-- without one. tests/python/test_analyst_views.py compares each with the
-- API, user by user.
begin;
select plan(23);

select results_eq(
    $$
        select c.relname::text collate "default", c.relowner::regrole::text collate "default",
            'security_barrier=true' = any(c.reloptions), coalesce('security_invoker=true' = any(c.reloptions), false)
        from pg_catalog.pg_class as c
        where c.relnamespace = 'odl'::regnamespace and c.relname like 'analyst\_%'
        order by 1
    $$,
    $$
        values
        ('analyst_ai_sessions', 'odl_owner', true, false),
        ('analyst_approved_not_ordered', 'odl_owner', true, false),
        ('analyst_audit_actions', 'odl_owner', true, false),
        ('analyst_cag_entries', 'odl_owner', true, false),
        ('analyst_change_requests', 'odl_owner', true, false),
        ('analyst_component_instances', 'odl_owner', true, false),
        ('analyst_escrows', 'odl_owner', true, false),
        ('analyst_instance_counts', 'odl_owner', true, false),
        ('analyst_invoices', 'odl_owner', true, false),
        ('analyst_open_warranty_claims', 'odl_owner', true, false),
        ('analyst_order_lines', 'odl_owner', true, false),
        ('analyst_patches', 'odl_owner', true, false),
        ('analyst_patches_daily', 'odl_owner', true, false),
        ('analyst_projects', 'odl_owner', true, false),
        ('analyst_psu_budgets', 'odl_owner', true, false),
        ('analyst_psu_usage', 'odl_owner', true, false),
        ('analyst_received_not_installed', 'odl_owner', true, false),
        ('analyst_serials', 'odl_owner', true, false),
        ('analyst_stock', 'odl_owner', true, false),
        ('analyst_tool_costs', 'odl_owner', true, false)
    $$,
    'every analyst view is a security barrier that runs as odl_owner, whom RLS binds'
);
select is_empty(
    $$
        select a.attrelid::regclass::text || '.' || a.attname
        from pg_catalog.pg_attribute as a
        inner join pg_catalog.pg_class as c on a.attrelid = c.oid
        where c.relnamespace = 'odl'::regnamespace and c.relname like 'analyst\_%'
            and a.attnum > 0 and not a.attisdropped
            and coalesce(pg_catalog.col_description(c.oid, a.attnum), '') = ''
    $$,
    'every column of every analyst view has a comment'
);
select table_privs_are('odl', 'analyst_projects', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'analyst_patches', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'analyst_patches_daily', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'analyst_change_requests', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'analyst_instance_counts', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'analyst_audit_actions', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'analyst_ai_sessions', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'analyst_cag_entries', 'odl_analyst', array['SELECT']);
select table_privs_are('odl', 'analyst_invoices', 'odl_analyst', array['SELECT']);
select is_empty(
    $$
        select c.oid::regclass::text || ' ' || r.rolname
        from pg_catalog.pg_class as c
        cross join pg_catalog.pg_roles as r
        where c.relnamespace = 'odl'::regnamespace and c.relname like 'analyst\_%'
            and r.rolname in ('odl_app', 'odl_admin', 'odl_auth')
            and pg_catalog.has_table_privilege(r.oid, c.oid, 'SELECT')
    $$,
    'applications, DBAs and the login service read no analyst view'
);
select is_empty(
    $$
        select c.oid::regclass::text
        from pg_catalog.pg_class as c
        inner join pg_catalog.pg_attribute as a on c.oid = a.attrelid and a.attname = 'tenant_id'
        where c.relnamespace = 'odl'::regnamespace and c.relkind in ('r', 'p')
            and pg_catalog.has_table_privilege('odl_analyst', c.oid, 'SELECT')
    $$,
    'odl_analyst reads no table of tenant data'
);

-- Fixtures: a tenant whose administrator builds a PORTFOLIO with two
-- SITEs; a guest at the first, where project Near hangs; project Far
-- under the second, where the guest holds nothing. Each has a document.
-- Near's has a patch into esg (restricted, which a guest may not read) and
-- one into instances; a change into finance waits for an approver, and so
-- does Near's move to procurement.

set local role odl_admin;
do $$
declare
    tenant text := odl.odl_create_tenant('Analysts', 'EU');
begin
    perform set_config('fixture.tenant', tenant, true);
    perform set_config('fixture.admin', odl.odl_create_user(tenant, 'admin@analysts.example', 'super_user'), true);
    perform set_config('fixture.guest', odl.odl_create_user(tenant, 'guest@analysts.example', 'guest', false), true);
end
$$;
set local role odl_app;
do $$
declare
    doc jsonb := $doc$
        {
            "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
            "schema_version": "4.1",
            "meta": {"project": "Near", "domain": "PV", "scale": "UTILITY"},
            "hierarchy": {"id": "PLANT-01", "level": "PLANT", "name": "Near"},
            "instances": [
                {"id": "INV-1", "type_ref": "inverter", "lifecycle_status": "planned"},
                {"id": "INV-2", "type_ref": "inverter", "lifecycle_status": "planned"}
            ],
            "finance": {"currency": "EUR", "capex": {"equipment": 1000000}}
        }
    $doc$;
    portfolio text;
    near_site text;
    far_site text;
    near text;
    far text;
    near_doc text;
begin
    perform odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.admin'));
    portfolio := odl.odl_create_node(null, 'PORTFOLIO', 'Portfolio');
    near_site := odl.odl_create_node(portfolio, 'SITE', 'Near site');
    far_site := odl.odl_create_node(portfolio, 'SITE', 'Far site');
    perform odl.odl_assign_role(current_setting('fixture.admin'), portfolio, 'super_user');
    perform odl.odl_assign_role(current_setting('fixture.guest'), near_site, 'guest');
    near := odl.odl_create_project('Near');
    far := odl.odl_create_project('Far');
    perform odl.odl_attach_project(near, near_site);
    perform odl.odl_attach_project(far, far_site);
    near_doc := odl.odl_create_document(near, doc);
    perform odl.odl_create_document(far, doc);
    perform odl.odl_apply_patch(near_doc, '[{"op": "add", "path": "/esg", "value": {"land_use_ha": 92}}]', 1, 'esg');
    perform odl.odl_apply_patch(
        near_doc, '[{"op": "replace", "path": "/instances/0/lifecycle_status", "value": "installed"}]', 2,
        'inverter installed'
    );
    perform odl.odl_apply_patch(
        near_doc, '[{"op": "replace", "path": "/finance/capex/equipment", "value": 1200000}]', 3, 'capex revised'
    );
    perform odl.odl_set_project_phase(near, 'procurement');
    perform set_config('fixture.near', near, true);
    perform set_config('fixture.near_doc', near_doc, true);
end
$$;

-- As an analyst acting as the guest (a superuser's session may take any
-- context; a bound login only its own, as tests/python shows).

reset role;
set local role odl_analyst;
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.guest'))$$,
    'setup: an analyst acts as the guest'
);
select results_eq(
    $$
        select p.project_name, p.phase, p.node_level, p.path_names, p.path_levels, p.documents
        from odl.analyst_projects as p
    $$,
    $$values ('Near', 'design', 'SITE', array['Portfolio', 'Near site'], array['PORTFOLIO', 'SITE'], 1::bigint)$$,
    'analyst_projects: only the project the guest may read, with its node and path'
);
select results_eq(
    $$
        select p.version, p.kind, p.operations, p.changed_pointers, p.intent, p.author_email
        from odl.analyst_patches as p
        order by p.version
    $$,
    $$
        values
        (1, 'created', null::integer, array[''], null::text, 'admin@analysts.example'),
        (2, 'patched', 1, array[]::text[], null, 'admin@analysts.example'),
        (3, 'patched', 1, array['/instances/0/lifecycle_status'], 'inverter installed', 'admin@analysts.example')
    $$,
    'analyst_patches: every version of the readable document; finance''s pointer and intent are not shown'
);
select results_eq(
    $$
        select d.author_email, d.versions, d.documents_created, d.documents, d.operations
        from odl.analyst_patches_daily as d
    $$,
    $$values ('admin@analysts.example', 3::bigint, 1::bigint, 1::bigint, 2::bigint)$$,
    'analyst_patches_daily: the versions of the day by author'
);
select results_eq(
    $$
        select c.type_ref, c.lifecycle_status, c.instances
        from odl.analyst_instance_counts as c
        order by c.lifecycle_status
    $$,
    $$values ('inverter', 'installed', 1::bigint), ('inverter', 'planned', 1::bigint)$$,
    'analyst_instance_counts: the readable project''s instances by type and status'
);
select is_empty($$select from odl.analyst_audit_actions$$, 'analyst_audit_actions: a guest reads no audit');
select results_eq(
    $$
        select c.kind, c.status, c.target_phase, c.sections, c.intent, c.patch, c.redacted, c.author_email,
            c.age = interval '0'
        from odl.analyst_change_requests as c
        order by c.kind
    $$,
    $$
        values
        ('patch', 'pending', null, array['finance'], null, null::jsonb, array['/finance'], 'admin@analysts.example',
            true),
        ('phase', 'pending', 'procurement', array['governance'], null, null, array[]::text[],
            'admin@analysts.example', true)
    $$,
    'analyst_change_requests: both pending changes, their proposer and age (0: one transaction), nothing of '
    || 'the finance patch'
);
select lives_ok($$select odl.odl_clear_context()$$, 'setup: the analyst ends the context');
select is_empty(
    $$
        select 'projects' from odl.analyst_projects
        union all select 'patches' from odl.analyst_patches
        union all select 'daily' from odl.analyst_patches_daily
        union all select 'changes' from odl.analyst_change_requests
        union all select 'instances' from odl.analyst_instance_counts
        union all select 'audit' from odl.analyst_audit_actions
    $$,
    'without a context every analyst view is empty'
);

reset role;
select is_empty($$select * from odl.odl_security_audit()$$, 'odl_security_audit() finds nothing');

select * from finish();
rollback;
