-- Row-level security with two tenants. odl_app reads only the tenant of
-- its context and writes nothing directly. The owner, which does hold
-- write privileges but not BYPASSRLS, is bound too because RLS is forced.
begin;
select plan(44);

-- A helper that returns a query's plan as one text, for the InitPlan check.
create function pg_temp.plan_of(query text) returns text
language plpgsql
as $$
declare
    line text;
    result text := '';
begin
    for line in execute 'explain (costs off) ' || query loop
        result := result || line || E'\n';
    end loop;
    return result;
end
$$;

-- Fixtures: tenants A and B, each with a user and a project, through the API.

set local role odl_admin;
do $$
begin
    perform set_config('fixture.tenant_a', odl.odl_create_tenant('Tenant A', 'EU'), true);
    perform set_config('fixture.tenant_b', odl.odl_create_tenant('Tenant B', 'US'), true);
    perform set_config(
        'fixture.user_a', odl.odl_create_user(current_setting('fixture.tenant_a'), 'ann@a.example', 'engineer'), true
    );
    perform set_config(
        'fixture.user_b', odl.odl_create_user(current_setting('fixture.tenant_b'), 'bob@b.example', 'engineer'), true
    );
end
$$;
reset role;
set local role odl_app;
do $$
begin
    perform odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'));
    perform set_config('fixture.project_a', odl.odl_create_project('Solar A'), true);
    perform odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'));
    perform set_config('fixture.project_b', odl.odl_create_project('Solar B'), true);
    -- Leave no context behind for the next section.
    perform odl.odl_clear_context();
end
$$;
reset role;

-- The superuser bypasses RLS: the fixtures are there, so the empty results
-- below mean filtering, not missing data.
select results_eq(
    $$
        select count(*)::int
        from odl.projects
        where tenant_id in (current_setting('fixture.tenant_a'), current_setting('fixture.tenant_b'))
    $$,
    array[2],
    'setup: tenants A and B have one project each'
);

-- odl_app without a context: every tenant table is empty.

set local role odl_app;
select is_empty($$select * from odl.tenants$$, 'odl_app without a context sees no tenants');
select is_empty($$select * from odl.users$$, 'odl_app without a context sees no users');
select is_empty($$select * from odl.projects$$, 'odl_app without a context sees no projects');
select is_empty($$select * from odl.project_summary$$, 'odl_app without a context sees nothing in project_summary');

-- odl_app in tenant A's context: only A.

select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'))$$,
    'setup: odl_app takes tenant A''s context'
);
select results_eq(
    $$select tenant_id::text, name from odl.tenants$$,
    $$select current_setting('fixture.tenant_a'), 'Tenant A'$$,
    'odl_app in A sees only tenant A'
);
select results_eq(
    $$select user_id::text, email from odl.users$$,
    $$select current_setting('fixture.user_a'), 'ann@a.example'$$,
    'odl_app in A sees only the users of A'
);
select results_eq(
    $$select project_id::text, name from odl.projects$$,
    $$select current_setting('fixture.project_a'), 'Solar A'$$,
    'odl_app in A sees only the projects of A'
);
select results_eq(
    $$select tenant_name, project_name, created_by_email from odl.project_summary$$,
    $$values ('Tenant A', 'Solar A', 'ann@a.example')$$,
    'project_summary, run with odl_app''s rights, shows only A'
);
select is_empty(
    $$select * from odl.projects where tenant_id = current_setting('fixture.tenant_b')$$,
    'asking for tenant B''s projects by tenant_id returns nothing'
);
select is_empty(
    $$select * from odl.users where user_id = current_setting('fixture.user_b')$$,
    'asking for tenant B''s user by user_id returns nothing'
);
select is_empty(
    $$select * from odl.tenants where tenant_id = current_setting('fixture.tenant_b')$$,
    'asking for tenant B by tenant_id returns nothing'
);

-- odl_app writes only through the API: direct DML is refused, even in its
-- own tenant.

select throws_ok(
    $$insert into odl.tenants (name, region) values ('Rogue', 'EU')$$,
    '42501', 'permission denied for table tenants', 'odl_app cannot insert into tenants'
);
select throws_ok(
    $$
        insert into odl.users (tenant_id, email, role)
        values (current_setting('fixture.tenant_a'), 'eve@a.example', 'guest')
    $$,
    '42501', 'permission denied for table users', 'odl_app cannot insert into users'
);
select throws_ok(
    $$
        insert into odl.projects (tenant_id, name, created_by)
        values (current_setting('fixture.tenant_a'), 'Rogue', current_setting('fixture.user_a'))
    $$,
    '42501', 'permission denied for table projects', 'odl_app cannot insert into projects'
);
select throws_ok(
    $$update odl.tenants set name = 'Renamed'$$,
    '42501', 'permission denied for table tenants', 'odl_app cannot update tenants'
);
select throws_ok(
    $$update odl.users set mfa_enabled = false$$,
    '42501', 'permission denied for table users', 'odl_app cannot update users'
);
select throws_ok(
    $$update odl.projects set phase = 'operations'$$,
    '42501', 'permission denied for table projects', 'odl_app cannot update projects'
);
select throws_ok(
    $$delete from odl.tenants$$,
    '42501', 'permission denied for table tenants', 'odl_app cannot delete from tenants'
);
select throws_ok(
    $$delete from odl.users$$,
    '42501', 'permission denied for table users', 'odl_app cannot delete from users'
);
select throws_ok(
    $$delete from odl.projects$$,
    '42501', 'permission denied for table projects', 'odl_app cannot delete from projects'
);
select throws_ok(
    $$truncate odl.projects$$,
    '42501', 'permission denied for table projects', 'odl_app cannot truncate projects'
);

-- The policy reads the context once per query: an InitPlan, whose result
-- ($0) the scan compares with, rather than a function call on every row.

select matches(
    pg_temp.plan_of('select * from odl.projects'),
    'InitPlan 1 \(returns \$0\)',
    'the plan of a query on projects evaluates the context in an InitPlan'
);
select doesnt_match(
    pg_temp.plan_of('select * from odl.projects'),
    '(Filter|Cond): .*odl_current_tenant_id',
    'the scan of projects does not call odl_current_tenant_id() per row'
);

-- odl_admin lists every tenant (policy admin_read) but no users.

reset role;
set local role odl_admin;
select set_has(
    $$select tenant_id::text from odl.tenants$$,
    $$select current_setting('fixture.tenant_a') union all select current_setting('fixture.tenant_b')$$,
    'odl_admin sees tenants A and B without a context'
);
select throws_ok(
    $$select * from odl.users$$,
    '42501', 'permission denied for table users', 'odl_admin cannot read users'
);

-- odl_analyst reads the view of its context only.

reset role;
set local role odl_analyst;
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'))$$,
    'setup: odl_analyst takes tenant B''s context'
);
select results_eq(
    $$select tenant_name, project_name from odl.project_summary$$,
    $$values ('Tenant B', 'Solar B')$$,
    'odl_analyst in B sees only B in project_summary'
);

-- The owner: it may write, but forced RLS binds it to its context.

reset role;
set local role odl_owner;
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'))$$,
    'setup: odl_owner takes tenant A''s context'
);
select results_eq(
    $$select project_id::text from odl.projects$$,
    $$select current_setting('fixture.project_a')$$,
    'the owner in A sees only the projects of A'
);
select throws_ok(
    $$
        insert into odl.projects (tenant_id, name, created_by)
        values (current_setting('fixture.tenant_b'), 'Planted', current_setting('fixture.user_b'))
    $$,
    '42501',
    'new row violates row-level security policy for table "projects"',
    'the owner in A cannot insert a project of tenant B'
);
select throws_ok(
    $$
        insert into odl.users (tenant_id, email, role)
        values (current_setting('fixture.tenant_b'), 'mole@b.example', 'guest')
    $$,
    '42501',
    'new row violates row-level security policy for table "users"',
    'the owner in A cannot insert a user of tenant B'
);
select throws_ok(
    $$
        update odl.projects set tenant_id = current_setting('fixture.tenant_b')
        where project_id = current_setting('fixture.project_a')
    $$,
    '42501',
    'new row violates row-level security policy for table "projects"',
    'the owner in A cannot move a project into tenant B'
);
select results_eq(
    $$
        with changed as (
            update odl.projects set name = 'Hijacked'
            where tenant_id = current_setting('fixture.tenant_b')
            returning 1
        )
        select count(*)::int from changed
    $$,
    array[0],
    'the owner in A updates 0 of tenant B''s projects'
);
select results_eq(
    $$
        with changed as (
            update odl.users set role = 'guest'
            where tenant_id = current_setting('fixture.tenant_b')
            returning 1
        )
        select count(*)::int from changed
    $$,
    array[0],
    'the owner in A updates 0 of tenant B''s users'
);
select results_eq(
    $$
        with gone as (
            delete from odl.projects
            where tenant_id = current_setting('fixture.tenant_b')
            returning 1
        )
        select count(*)::int from gone
    $$,
    array[0],
    'the owner in A deletes 0 of tenant B''s projects'
);
-- A composite foreign key: (tenant_id, created_by) must name a user of the
-- same tenant, so a row of A cannot point at B's user.
select throws_ok(
    $$
        insert into odl.projects (tenant_id, name, created_by)
        values (current_setting('fixture.tenant_a'), 'Crossed', current_setting('fixture.user_b'))
    $$,
    '23503',
    'insert or update on table "projects" violates foreign key constraint "projects_created_by_fkey"',
    'a project of A cannot be created by a user of B'
);
select lives_ok(
    $$
        insert into odl.projects (tenant_id, name, created_by)
        values (current_setting('fixture.tenant_a'), 'Owned', current_setting('fixture.user_a'))
    $$,
    'the owner in A can insert a project of A (the refusals above are RLS, not privileges)'
);

-- The owner without a context matches no row and may write none.

do $$
begin
    perform odl.odl_clear_context();
end
$$;
select is_empty($$select * from odl.projects$$, 'the owner without a context sees no projects');
select throws_ok(
    $$insert into odl.tenants (name, region) values ('Orphan', 'EU')$$,
    '42501',
    'new row violates row-level security policy for table "tenants"',
    'the owner without a context cannot insert a tenant'
);
select throws_ok(
    $$
        insert into odl.projects (tenant_id, name, created_by)
        values (current_setting('fixture.tenant_a'), 'Orphan', current_setting('fixture.user_a'))
    $$,
    '42501',
    'new row violates row-level security policy for table "projects"',
    'the owner without a context cannot insert a project'
);

-- Tenant B is untouched by all of the above.

reset role;
select results_eq(
    $$
        select project_id::text, name
        from odl.projects
        where tenant_id = current_setting('fixture.tenant_b')
    $$,
    $$select current_setting('fixture.project_b'), 'Solar B'$$,
    'tenant B still has exactly its one project, unrenamed'
);
select results_eq(
    $$select role from odl.users where tenant_id = current_setting('fixture.tenant_b')$$,
    array['engineer'],
    'tenant B''s user keeps its role'
);

select * from finish();
rollback;
