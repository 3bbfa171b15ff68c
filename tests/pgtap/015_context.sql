-- The tenant context: odl_set_context() checks that the user belongs to the
-- tenant, odl_current_*() read it back, require_context() guards the
-- writing API, and the context never outlives its transaction.
begin;
select plan(20);

select is_definer('odl', 'odl_set_context', array['text', 'text', 'text']);
select isnt_definer('odl', 'odl_current_tenant_id', array[]::name[]);
select volatility_is('odl', 'odl_current_tenant_id', array[]::name[], 'stable');
select volatility_is('odl', 'odl_current_user_id', array[]::name[], 'stable');

-- Transaction-local: a second session sets a context, commits, and finds
-- it gone in its next transaction. Its fixtures are deleted before that
-- commit, so it leaves nothing behind. dblink is created inside this
-- test's transaction and rolled back with it.

create extension if not exists dblink;
do $$
begin
    perform dblink_connect(
        'odl_context',
        format(
            'host=%s port=%s dbname=%s user=%s',
            coalesce(host(inet_server_addr()), split_part(current_setting('unix_socket_directories'), ',', 1)),
            current_setting('port'),
            current_database(),
            session_user
        )
    );
    perform dblink_exec('odl_context', 'begin');
    perform dblink_exec('odl_context', $remote$
        do $probe$
        declare
            probe_tenant text := odl.odl_create_tenant('Context probe', 'EU');
            probe_user text := odl.odl_create_user(probe_tenant, 'probe@probe.example', 'guest');
        begin
            -- Committed for good: the ledger keeps its creation.
            perform odl.odl_set_context(probe_tenant, probe_user);
        end
        $probe$
    $remote$);
end
$$;
select results_eq(
    $$
        select *
        from dblink('odl_context', 'select odl.odl_current_tenant_id() is not null, odl.odl_current_user_id() is not null')
        as r (has_tenant boolean, has_user boolean)
    $$,
    $$values (true, true)$$,
    'another session has a context within its transaction'
);
do $$ begin perform dblink_exec('odl_context', 'commit'); end $$;
select results_eq(
    $$
        select *
        from dblink('odl_context', 'select odl.odl_current_tenant_id(), odl.odl_current_user_id()')
        as r (tenant_id text, user_id text)
    $$,
    $$values (null::text, null::text)$$,
    'after commit, that session has no context: odl_set_context() is transaction-local'
);
do $$ begin perform dblink_disconnect('odl_context'); end $$;

-- Fixtures: tenants A and B with one user each, created through the API.

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

-- As the application.

set local role odl_app;

select is(odl.odl_current_tenant_id(), null, 'without a context, odl_current_tenant_id() is null');
select is(odl.odl_current_user_id(), null, 'without a context, odl_current_user_id() is null');

select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'))$$,
    'odl_app sets the context to tenant A and its user'
);
select is(odl.odl_current_tenant_id(), current_setting('fixture.tenant_a'), 'odl_current_tenant_id() is tenant A');
select is(odl.odl_current_user_id(), current_setting('fixture.user_a'), 'odl_current_user_id() is the user of A');

select throws_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_b'))$$,
    'ODC02',
    'user does not belong to tenant',
    'a user of tenant B is refused in tenant A'
);
select results_eq(
    $$select odl.odl_current_tenant_id(), odl.odl_current_user_id()$$,
    $$select current_setting('fixture.tenant_a'), current_setting('fixture.user_a')$$,
    'a refused odl_set_context() leaves the previous context in place'
);
select throws_ok(
    $$select odl.odl_set_context('01ARYZ6S41TSV4RRFFQ69G5FAV', current_setting('fixture.user_a'))$$,
    'ODC02',
    'user does not belong to tenant',
    'an unknown tenant is refused'
);
select throws_ok(
    $$select odl.odl_set_context(null, null)$$,
    '22004',
    'tenant_id and user_id must not be null',
    'a null tenant and user are refused'
);
select throws_ok(
    $$select odl.require_context()$$,
    '42501',
    'permission denied for function require_context',
    'require_context() is internal: odl_app cannot call it'
);

-- Only odl_set_context() writes the context; a setting written with
-- set_config() means nothing.

select odl.odl_clear_context();
do $$ begin perform set_config('odl.tenant_id', current_setting('fixture.tenant_b'), true); end $$;
select is_empty(
    $$select email from odl.users$$,
    'setting odl.tenant_id directly, bypassing odl_set_context(), reveals no other tenant''s rows'
);

-- As the owner, which may call require_context().

reset role;
set local role odl_owner;
do $$
begin
    perform odl.odl_clear_context();
end
$$;
select throws_ok(
    $$select odl.require_context()$$,
    'ODC01',
    'no tenant context is set',
    'require_context() raises ODC01 without a context'
);
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'))$$,
    'setup: context of tenant B'
);
select results_eq(
    $$select tenant_id, user_id from odl.require_context()$$,
    $$select current_setting('fixture.tenant_b'), current_setting('fixture.user_b')$$,
    'require_context() returns the tenant and user of the context'
);

select * from finish();
rollback;
