-- Data residency in one database: the region it serves (odl_region()),
-- tenants of other regions refused at creation (ODW01) and at context time
-- (ODW03), a tenant's region never updated (ODW02), a moving tenant's
-- writes refused (ODW04) but its reads not, moves that make no sense
-- (ODW05), and the per-region aggregates.
begin;
select plan(22);

select has_table('odl', 'tenant_departures', 'odl.tenant_departures records the tenants on their way out');
select col_is_pk('odl', 'tenant_departures', 'tenant_id', 'a tenant leaves once at a time');
select ok(
    (
        select c.relrowsecurity and c.relforcerowsecurity from pg_catalog.pg_class as c
        where c.oid = 'odl.tenant_departures'::regclass
    ),
    'odl.tenant_departures has forced row-level security'
);
select policies_are('odl', 'tenant_departures', array['tenant_isolation', 'owner_checks_departures']);
select trigger_is('odl', 'tenants', 'tenants_region_guard', 'odl', 'region_tenant_guard');
select is_definer('odl', 'odl_region_freeze', array['text', 'text', 'bigint']);
select is(odl.odl_region(), null, 'a database deployed without a region serves every region');

-- A tenant of each region while the database serves all of them, then EU only.
do $$
begin
    perform set_config('fixture.eu', odl.odl_create_tenant('Tenant EU', 'EU'), true);
    perform set_config('fixture.us', odl.odl_create_tenant('Tenant US', 'US'), true);
    perform set_config('fixture.eu_user', odl.odl_create_user(current_setting('fixture.eu'), 'e@eu.example.com', 'engineer'), true);
    perform set_config('fixture.us_user', odl.odl_create_user(current_setting('fixture.us'), 'u@us.example.com', 'engineer'), true);
end
$$;
select throws_ok(
    $$insert into odl.settings (name, value, description) values ('region', 'EU', 'test')$$,
    'ODW09', 'this database holds tenants of regions other than EU',
    'a database holding tenants of several regions does not start serving one'
);
-- The rest as if this database served EU (other files' tenants stay too).
set local session_replication_role = replica;
select throws_ok(
    $$insert into odl.settings (name, value, description) values ('region', 'MARS', 'test')$$,
    '23514', null, 'the region setting names a residency region'
);
insert into odl.settings (name, value, description) values ('region', 'EU', 'test');
set local session_replication_role = origin;
select is(odl.odl_region(), 'EU', 'odl_region() names the region of the setting');

select throws_ok(
    $$select odl.odl_create_tenant('Stray', 'US')$$,
    'ODW01', 'this database serves region EU, not US', 'a tenant of another region is not created here'
);
select lives_ok($$select odl.odl_create_tenant('Local', 'EU')$$, 'a tenant of this region is');
select throws_ok(
    format($$update odl.tenants set region = 'US' where tenant_id = %L$$, current_setting('fixture.eu')),
    'ODW02', 'a tenant''s home region is never updated', 'a tenant''s region never changes in place'
);
select throws_ok(
    $$select odl.odl_set_context('01ARZ3NDEKTSV4RRFFQ69G5FAV', '01ARZ3NDEKTSV4RRFFQ69G5FAV')$$,
    'ODW03', 'tenant is not homed in region EU', 'a tenant this region does not home gets no context here'
);
select lives_ok(
    format($$select odl.odl_set_context(%L, %L)$$, current_setting('fixture.eu'), current_setting('fixture.eu_user')),
    'a tenant of this region gets its context'
);
select odl.odl_clear_context();

select throws_ok(
    format($$select odl.odl_region_freeze(%L, 'EU', 1)$$, current_setting('fixture.eu')),
    'ODW05', 'the tenant is homed in region EU already', 'a move leaves the tenant''s own region'
);
select lives_ok(
    format($$select odl.odl_region_freeze(%L, 'APAC', 1)$$, current_setting('fixture.eu')),
    'odl_region_freeze() starts a move'
);
select throws_ok(
    format($$select odl.odl_region_freeze(%L, 'APAC', 2)$$, current_setting('fixture.eu')),
    'ODW05', 'the tenant is already being moved', 'a tenant moves once at a time'
);
select throws_ok(
    format($$select odl.odl_set_context(%L, %L)$$, current_setting('fixture.eu'), current_setting('fixture.eu_user')),
    'ODW04', 'tenant is moving to region APAC: writes are refused here', 'a moving tenant writes nothing here'
);
-- The superuser's counts see past row-level security; odl_admin's report
-- sees each tenant through its context.
do $$
begin
    perform set_config(
        'fixture.totals',
        format(
            '(EU,%s,%s,%s)', (select count(*) from odl.tenants), (select count(*) from odl.users),
            (select count(*) from odl.audit_events)
        ),
        true
    );
end
$$;
set local role odl_admin;
select is(
    (select format('(%s,%s,%s,%s)', region, tenants, users, audit_events) from odl.odl_region_report()),
    current_setting('fixture.totals'),
    'odl_region_report() gives odl_admin this region''s totals'
);
reset role;
select ok(odl.odl_region_unfreeze(current_setting('fixture.eu')), 'odl_region_unfreeze() ends the move');
-- Last: from here on the transaction is read-only.
set local transaction_read_only = on;
select lives_ok(
    format($$select odl.odl_set_context(%L, %L)$$, current_setting('fixture.eu'), current_setting('fixture.eu_user')),
    'read-only transactions get a context'
);

select * from finish();
rollback;
