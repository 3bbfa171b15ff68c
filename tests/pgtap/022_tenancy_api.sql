-- The tenancy API: odl_create_tenant() and odl_create_user() for
-- odl_admin, odl_create_project() for odl_app, with every documented error.
begin;
select plan(34);

select has_function('odl', 'odl_create_tenant', array['text', 'text']);
select has_function('odl', 'odl_create_user', array['text', 'text', 'text', 'boolean', 'text']);
select has_function('odl', 'odl_create_project', array['text', 'text', 'text']);
select is_definer('odl', 'odl_create_project', array['text', 'text', 'text']);

-- odl_create_tenant(name, region), as odl_admin.

set local role odl_admin;
do $$
begin
    perform set_config('fixture.tenant_a', odl.odl_create_tenant('Tenant A', 'EU'), true);
    perform set_config('fixture.tenant_b', odl.odl_create_tenant('Tenant B', 'APAC'), true);
end
$$;
select matches(
    current_setting('fixture.tenant_a'), '^[0-7][0-9A-HJKMNP-TV-Z]{25}$',
    'odl_create_tenant() returns a ULID'
);
select results_eq(
    $$
        select name, region from odl.tenants
        where tenant_id in (current_setting('fixture.tenant_a'), current_setting('fixture.tenant_b'))
        order by tenant_id
    $$,
    $$values ('Tenant A', 'EU'), ('Tenant B', 'APAC')$$,
    'odl_create_tenant() stores the name and region'
);
select throws_ok(
    $$select odl.odl_create_tenant('Tenant X', 'MARS')$$,
    '23514',
    'new row for relation "tenants" violates check constraint "tenants_region_valid"',
    'a region other than US, EU or APAC is refused'
);
select throws_ok(
    $$select odl.odl_create_tenant('   ', 'US')$$,
    '23514',
    'new row for relation "tenants" violates check constraint "tenants_name_not_blank"',
    'a blank tenant name is refused'
);

-- odl_create_user(tenant_id, email, role, mfa_enabled default true, agent
-- default null).

do $$
begin
    perform set_config(
        'fixture.user_a',
        odl.odl_create_user(current_setting('fixture.tenant_a'), 'Ann@A.example', 'project_manager'),
        true
    );
    perform set_config(
        'fixture.user_a2',
        odl.odl_create_user(current_setting('fixture.tenant_a'), 'carl@a.example', 'guest', false),
        true
    );
    perform set_config(
        'fixture.user_b', odl.odl_create_user(current_setting('fixture.tenant_b'), 'bob@b.example', 'client'), true
    );
    perform set_config(
        'fixture.agent_a',
        odl.odl_create_user(current_setting('fixture.tenant_a'), 'planner@a.example', 'consultant', false, 'planner_agent'),
        true
    );
end
$$;
reset role;
select results_eq(
    $$
        select tenant_id::text, email, role, mfa_enabled, agent
        from odl.users
        where user_id in (
            current_setting('fixture.user_a'), current_setting('fixture.user_a2'), current_setting('fixture.agent_a')
        )
        order by user_id
    $$,
    $$
        values
        (current_setting('fixture.tenant_a'), 'Ann@A.example', 'project_manager', true, null),
        (current_setting('fixture.tenant_a'), 'carl@a.example', 'guest', false, null),
        (current_setting('fixture.tenant_a'), 'planner@a.example', 'consultant', false, 'planner_agent')
    $$,
    'odl_create_user() stores the user in its tenant; MFA defaults to on; a human is no agent'
);
set local role odl_admin;
select throws_ok(
    $$select odl.odl_create_user('01ARYZ6S41TSV4RRFFQ69G5FAV', 'x@x.example', 'guest')$$,
    'ODC03',
    'tenant does not exist',
    'a user of an unknown tenant is refused with ODC03'
);
select throws_ok(
    $$select odl.odl_create_user(null, 'x@x.example', 'guest')$$,
    'ODC03',
    'tenant does not exist',
    'a user without a tenant is refused with ODC03'
);
select throws_ok(
    $$select odl.odl_create_user(current_setting('fixture.tenant_a'), 'dan@a.example', 'wizard')$$,
    '23503',
    'insert or update on table "users" violates foreign key constraint "users_role_fkey"',
    'a role not in odl.rbac_roles is refused'
);
select throws_ok(
    $$select odl.odl_create_user(current_setting('fixture.tenant_a'), 'ANN@a.EXAMPLE', 'guest')$$,
    '23505',
    'duplicate key value violates unique constraint "users_tenant_id_email_key"',
    'an e-mail address differing only in case is a duplicate within the tenant'
);
select lives_ok(
    $$select odl.odl_create_user(current_setting('fixture.tenant_b'), 'ann@a.example', 'guest')$$,
    'the same e-mail address may exist in another tenant'
);
select throws_ok(
    $$select odl.odl_create_user(current_setting('fixture.tenant_a'), 'not an address', 'guest')$$,
    '23514',
    'new row for relation "users" violates check constraint "users_email_valid"',
    'a malformed e-mail address is refused'
);
-- Roles marked mfa_required in odl.rbac_roles need MFA.
select throws_ok(
    $$select odl.odl_create_user(current_setting('fixture.tenant_a'), 'eve@a.example', 'engineer', false)$$,
    'ODC04',
    'role requires multi-factor authentication',
    'a user with a role that requires MFA cannot be created with MFA off'
);
-- An AI agent takes only a role its kind may take (odl.rbac_agent_roles).
select throws_ok(
    $$
        select odl.odl_create_user(
            current_setting('fixture.tenant_a'), 'ops@a.example', 'data_analyst', false, 'ops_agent'
        )
    $$,
    'ODR02',
    'a ops_agent may not act as data_analyst',
    'an agent with a role its kind may not take is refused with ODR02'
);
select throws_ok(
    $$
        select odl.odl_create_user(
            current_setting('fixture.tenant_a'), 'bot@a.example', 'consultant', false, 'chat_agent'
        )
    $$,
    'ODR02',
    'a chat_agent may not act as consultant',
    'an unknown kind of agent may take no role and is refused with ODR02'
);

-- odl_create_tenant() and odl_create_user() restore the caller's context.

reset role;
do $$
begin
    perform set_config(
        'fixture.user_b', odl.odl_create_user(current_setting('fixture.tenant_b'), 'bea@b.example', 'client'), true
    );
    perform odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'));
end
$$;
select lives_ok(
    $$
        select odl.odl_create_user(current_setting('fixture.tenant_a'), 'fay@a.example', 'guest'),
            odl.odl_create_tenant('Tenant C', 'US')
    $$,
    'setup: create a user of A and a tenant while in tenant B'
);
select is(
    odl.odl_current_tenant_id(),
    current_setting('fixture.tenant_b'),
    'the caller''s tenant context is restored afterwards'
);
select odl.odl_clear_context();

-- Only odl_admin creates tenants and users.

set local role odl_app;
select throws_ok(
    $$select odl.odl_create_tenant('Rogue', 'EU')$$,
    '42501',
    'permission denied for function odl_create_tenant',
    'odl_app cannot create tenants'
);
select throws_ok(
    $$select odl.odl_create_user(current_setting('fixture.tenant_a'), 'rogue@a.example', 'super_user')$$,
    '42501',
    'permission denied for function odl_create_user',
    'odl_app cannot create users'
);

-- odl_create_project(name, phase default 'design', classification default
-- 'internal'), as odl_app.

select throws_ok(
    $$select odl.odl_create_project('Solar A')$$,
    'ODC01',
    'no tenant context is set',
    'odl_create_project() without a context raises ODC01'
);
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'))$$,
    'setup: odl_app takes tenant A''s context as its first user'
);
do $$
begin
    perform set_config('fixture.project_a', odl.odl_create_project('Solar A'), true);
    perform set_config(
        'fixture.project_a2', odl.odl_create_project('Wind A', 'construction', 'confidential'), true
    );
end
$$;
select results_eq(
    $$
        select project_id::text, tenant_id::text, name, phase, classification, created_by::text
        from odl.projects
        order by project_id
    $$,
    $$
        values
        (
            current_setting('fixture.project_a'), current_setting('fixture.tenant_a'),
            'Solar A', 'design', 'internal', current_setting('fixture.user_a')
        ),
        (
            current_setting('fixture.project_a2'), current_setting('fixture.tenant_a'),
            'Wind A', 'construction', 'confidential', current_setting('fixture.user_a')
        )
    $$,
    'odl_create_project() creates in the current tenant, by the acting user, with the defaults'
);
select throws_ok(
    $$select odl.odl_create_project('Hydro A', 'dreaming')$$,
    '23503',
    'insert or update on table "projects" violates foreign key constraint "projects_phase_fkey"',
    'a phase not in odl.project_phases is refused'
);
select throws_ok(
    $$select odl.odl_create_project('Hydro A', 'design', 'top secret')$$,
    '23514',
    'new row for relation "projects" violates check constraint "projects_classification_valid"',
    'a classification other than the four levels is refused'
);
select throws_ok(
    $$select odl.odl_create_project('Solar A')$$,
    '23505',
    'duplicate key value violates unique constraint "projects_tenant_id_name_key"',
    'a project name is unique within its tenant'
);
select throws_ok(
    $$select odl.odl_create_project('')$$,
    '23514',
    'new row for relation "projects" violates check constraint "projects_name_not_blank"',
    'a blank project name is refused'
);
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'))$$,
    'setup: odl_app takes tenant B''s context'
);
select lives_ok(
    $$select odl.odl_create_project('Solar A')$$,
    'another tenant may use the same project name'
);
select results_eq(
    $$select name, created_by::text from odl.projects$$,
    $$values ('Solar A', current_setting('fixture.user_b'))$$,
    'tenant B''s project is created by B''s user, and A''s projects stay hidden'
);

-- A tenant without an acting user is not a context.

reset role;
do $$ begin perform odl.set_session_context(odl.odl_current_tenant_id(), null); end $$;
set local role odl_app;
select throws_ok(
    $$select odl.odl_create_project('Headless')$$,
    'ODC01',
    'no tenant context is set',
    'a tenant without a user is refused with ODC01'
);

-- Only odl_app creates projects.

reset role;
set local role odl_admin;
select throws_ok(
    $$select odl.odl_create_project('Admin project')$$,
    '42501',
    'permission denied for function odl_create_project',
    'odl_admin cannot create projects'
);

select * from finish();
rollback;
