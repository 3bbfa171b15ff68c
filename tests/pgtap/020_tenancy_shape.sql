-- Shape of the tenancy tables: columns, keys that lead with tenant_id,
-- foreign keys that carry tenant_id, named CHECKs, forced RLS and its
-- policies, the reference data and the analyst view.
begin;
select plan(50);

-- Columns.

select columns_are('odl', 'tenants', array['tenant_id', 'name', 'region', 'created_at']);
select columns_are(
    'odl', 'users', array['tenant_id', 'user_id', 'email', 'role', 'mfa_enabled', 'agent', 'created_at']
);
select columns_are(
    'odl', 'projects',
    array['tenant_id', 'project_id', 'name', 'phase', 'classification', 'created_by', 'created_at', 'node_id']
);
select columns_are('odl', 'rbac_roles', array['role_id', 'mfa_required', 'approver', 'clearance', 'notes']);
select columns_are('odl', 'project_phases', array['phase', 'position']);
select set_eq(
    $$
        select table_name::text, column_name::text
        from information_schema.columns
        where table_schema = 'odl' and domain_schema = 'odl' and domain_name = 'ulid'
            and table_name in ('tenants', 'users', 'projects', 'project_summary')
    $$,
    $$
        values
        ('tenants', 'tenant_id'),
        ('users', 'tenant_id'), ('users', 'user_id'),
        ('projects', 'tenant_id'), ('projects', 'project_id'), ('projects', 'created_by'), ('projects', 'node_id'),
        ('project_summary', 'tenant_id'), ('project_summary', 'project_id')
    $$,
    'every identifier column is an odl.ulid'
);
select col_default_is('odl', 'tenants', 'tenant_id', 'odl.odl_ulid()'::text, 'a tenant_id defaults to a new ULID');
select col_default_is('odl', 'users', 'mfa_enabled', true, 'MFA is on unless switched off');
select col_default_is('odl', 'projects', 'phase', 'design'::text, 'a project starts in phase design');
select col_default_is('odl', 'projects', 'classification', 'internal'::text, 'a project is internal by default');

-- Keys: tenant-scoped tables lead every key and index with tenant_id, so
-- rows of one tenant cluster together and the tables can be distributed.

select col_is_pk('odl', 'tenants', 'tenant_id', 'tenants: primary key (tenant_id)');
select col_is_pk('odl', 'users', array['tenant_id', 'user_id'], 'users: primary key (tenant_id, user_id)');
select col_is_pk('odl', 'projects', array['tenant_id', 'project_id'], 'projects: primary key (tenant_id, project_id)');
select col_is_pk('odl', 'rbac_roles', 'role_id', 'rbac_roles: primary key (role_id)');
select col_is_pk('odl', 'project_phases', 'phase', 'project_phases: primary key (phase)');
select col_is_unique('odl', 'projects', array['tenant_id', 'name']);
select col_is_unique('odl', 'project_phases', array['position']);
select has_index('odl', 'users', 'users_tenant_id_email_key', array['tenant_id', 'lower(email)']);
select index_is_unique('odl', 'users', 'users_tenant_id_email_key');
select has_index('odl', 'projects', 'projects_tenant_id_created_by_idx', array['tenant_id', 'created_by']);
select has_index('odl', 'projects', 'projects_tenant_id_node_id_idx', array['tenant_id', 'node_id']);
select is_empty(
    $$
        select i.indexrelid::regclass::text
        from pg_catalog.pg_index as i
        inner join pg_catalog.pg_class as c on i.indrelid = c.oid
        where c.relnamespace = 'odl'::regnamespace
            -- Keyed by backend, not by tenant: each backend's own context.
            and c.oid <> 'odl.session_contexts'::regclass
            -- Keyed by login role, which is cluster-wide: one binding per login.
            and c.oid <> 'odl.login_bindings'::regclass
            -- GIN indexes search within documents; RLS narrows by tenant_id.
            and (select am.amname from pg_catalog.pg_class as ic
                inner join pg_catalog.pg_am as am on ic.relam = am.oid
                where ic.oid = i.indexrelid) = 'btree'
            and exists (
                select from pg_catalog.pg_attribute as a
                where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
            )
            and i.indkey[0] <> (
                select a.attnum from pg_catalog.pg_attribute as a
                where a.attrelid = c.oid and a.attname = 'tenant_id'
            )
    $$,
    'every b-tree index (primary key and unique ones included) on a tenant-scoped table leads with tenant_id'
);

-- Foreign keys, each one listed: the reference to users carries tenant_id.

select fk_ok('odl', 'users', 'tenant_id', 'odl', 'tenants', 'tenant_id');
select fk_ok('odl', 'users', 'role', 'odl', 'rbac_roles', 'role_id');
select fk_ok('odl', 'users', 'agent', 'odl', 'rbac_agents', 'agent');
select fk_ok('odl', 'projects', 'tenant_id', 'odl', 'tenants', 'tenant_id');
select fk_ok('odl', 'projects', 'phase', 'odl', 'project_phases', 'phase');
select fk_ok(
    'odl', 'projects', array['tenant_id', 'created_by'],
    'odl', 'users', array['tenant_id', 'user_id']
);
select fk_ok(
    'odl', 'projects', array['tenant_id', 'node_id'],
    'odl', 'nodes', array['tenant_id', 'node_id']
);
select set_eq(
    $$
        select con.conname::text
        from pg_catalog.pg_constraint as con
        where con.connamespace = 'odl'::regnamespace and con.contype = 'f'
            and con.conrelid in ('odl.tenants'::regclass, 'odl.users'::regclass, 'odl.projects'::regclass)
    $$,
    array[
        'users_tenant_id_fkey', 'users_role_fkey', 'users_agent_fkey',
        'projects_tenant_id_fkey', 'projects_phase_fkey', 'projects_created_by_fkey', 'projects_node_id_fkey'
    ],
    'the tenancy tables have exactly these foreign keys'
);

-- Named CHECK constraints (each commented: see 000_schema).

select set_eq(
    $$
        select con.conrelid::regclass::text, con.conname::text collate "default"
        from pg_catalog.pg_constraint as con
        where con.connamespace = 'odl'::regnamespace
            and con.contype = 'c'
            and con.conrelid in ('odl.tenants'::regclass, 'odl.users'::regclass, 'odl.projects'::regclass)
    $$,
    $$
        values
        ('odl.tenants', 'tenants_region_valid'),
        ('odl.tenants', 'tenants_name_not_blank'),
        ('odl.users', 'users_email_valid'),
        ('odl.projects', 'projects_classification_valid'),
        ('odl.projects', 'projects_name_not_blank')
    $$,
    'the tenancy tables have exactly these named CHECK constraints'
);

-- Row-level security: enabled and forced, so the owner is bound too.

select results_eq(
    $$
        select c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity
        from pg_catalog.pg_class as c
        where c.oid in ('odl.tenants'::regclass, 'odl.users'::regclass, 'odl.projects'::regclass)
        order by 1
    $$,
    $$values ('odl.projects', true, true), ('odl.tenants', true, true), ('odl.users', true, true)$$,
    'RLS is enabled and forced on tenants, users and projects'
);
select policies_are('odl', 'tenants', array['tenant_isolation', 'admin_read']);
select policies_are('odl', 'users', array['tenant_isolation']);
select policies_are('odl', 'projects', array['tenant_isolation']);
select policy_cmd_is('odl', 'tenants', 'tenant_isolation', 'all', 'tenants.tenant_isolation applies to every command');
select policy_cmd_is('odl', 'users', 'tenant_isolation', 'all', 'users.tenant_isolation applies to every command');
select policy_cmd_is(
    'odl', 'projects', 'tenant_isolation', 'all', 'projects.tenant_isolation applies to every command'
);
-- pgTAP's policy_roles_are() cannot name PUBLIC, hence the query.
select results_eq(
    $$
        select tablename::text collate "default", roles::text collate "default"
        from pg_catalog.pg_policies
        where schemaname = 'odl' and policyname = 'tenant_isolation'
            and tablename in ('tenants', 'users', 'projects')
        order by 1
    $$,
    $$values ('projects', '{public}'), ('tenants', '{public}'), ('users', '{public}')$$,
    'tenant_isolation binds every role (PUBLIC), the owner included since RLS is forced'
);
select policy_cmd_is('odl', 'tenants', 'admin_read', 'select', 'tenants.admin_read only reads');
select policy_roles_are('odl', 'tenants', 'admin_read', array['odl_admin']);
-- The policies read the context in a scalar subquery: evaluated once per
-- query (an InitPlan), not once per row. 021_tenancy_rls checks the plan.
select set_eq(
    $$
        select tablename::text collate "default", policyname::text collate "default", qual, with_check
        from pg_catalog.pg_policies
        where schemaname = 'odl' and policyname = 'tenant_isolation'
            and tablename in ('tenants', 'users', 'projects')
    $$,
    $$
        select t, 'tenant_isolation', q.e as qual, q.e as with_check
        from
            unnest(array['tenants', 'users', 'projects']) as t,
            (
                values (
                    '((tenant_id)::text = ( SELECT c.tenant_id
   FROM odl.current_context c))'
                )
            ) as q (e)
    $$,
    'tenant_isolation compares tenant_id with the current context for reads and writes'
);

-- Reference data.

select results_eq(
    $$select phase from odl.project_phases order by position$$,
    array['design', 'procurement', 'construction', 'commissioning', 'operations', 'decommissioning'],
    'the project phases, in lifecycle order'
);
select set_eq(
    $$select role_id from odl.rbac_roles where mfa_required$$,
    array[
        'project_manager', 'engineer', 'expert', 'financial_analyst', 'compliance_officer',
        'supplier_manager', 'asset_owner', 'super_user'
    ],
    'these roles require MFA'
);
select set_eq(
    $$select role_id from odl.rbac_roles where approver$$,
    array['project_manager', 'expert', 'compliance_officer', 'asset_owner', 'super_user'],
    'these roles may approve change requests'
);
select is((select count(*)::int from odl.rbac_roles), 16, 'there are 16 ODL-SD roles');

-- The analyst view runs with the reader's rights, so RLS applies to it.

select has_view('odl', 'project_summary', 'view project_summary exists');
select columns_are(
    'odl', 'project_summary',
    array[
        'tenant_id', 'tenant_name', 'region', 'project_id', 'project_name', 'phase',
        'classification', 'created_by_email', 'created_at'
    ]
);
select ok(
    (
        select 'security_barrier=true' = any(c.reloptions) and not 'security_invoker=true' = any(c.reloptions)
        from pg_catalog.pg_class as c
        where c.oid = 'odl.project_summary'::regclass
    ),
    'project_summary runs as its owner (analysts read no table) behind a security barrier'
);
select table_privs_are('odl', 'project_summary', 'odl_analyst', array['SELECT']);

select * from finish();
rollback;
