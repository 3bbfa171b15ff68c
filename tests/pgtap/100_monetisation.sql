-- Monetisation's shape: forced RLS on every tenant table, the balance of a
-- PSU budget as a constraint, a natural key whose NULL user is not
-- distinct, and the errors of the PSU API without a context or a budget.
begin;
select plan(12);

select is_empty(
    $$
        select c.relname
        from pg_catalog.pg_class as c
        where c.oid in (
            'odl.subscriptions'::regclass, 'odl.psu_budgets'::regclass, 'odl.psu_reservations'::regclass,
            'odl.psu_ledger'::regclass, 'odl.marketplace_orders'::regclass,
            'odl.marketplace_order_shares'::regclass, 'odl.escrows'::regclass, 'odl.escrow_milestones'::regclass,
            'odl.escrow_disputes'::regclass
        )
        and not (c.relrowsecurity and c.relforcerowsecurity)
    $$,
    'every monetisation table of tenant data has forced RLS'
);
select col_is_pk('odl', 'psu_budgets', array['tenant_id', 'budget_id']::name[], 'a budget''s key is a surrogate');
select ok(
    (
        select pg_catalog.pg_get_constraintdef(c.oid) ~ 'NULLS NOT DISTINCT'
        from pg_catalog.pg_constraint as c
        where c.conname = 'psu_budgets_natural_key'
    ),
    'one budget per tenant, user and period start, a NULL user (the tenant''s budget) included'
);
select ok(
    (
        select pg_catalog.pg_get_constraintdef(c.oid) = 'CHECK ((granted = ((consumed + reserved) + remaining)))'
        from pg_catalog.pg_constraint as c
        where c.conname = 'psu_budgets_balance'
    ),
    'granted = consumed + reserved + remaining is a constraint'
);
select is(
    (
        select pg_catalog.format_type(a.atttypid, null) from pg_catalog.pg_attribute as a
        where a.attrelid = 'odl.psu_budgets'::regclass and a.attname = 'granted'
    ),
    'bigint',
    'PSU are integers'
);
select is_empty(
    $$
        select a.attrelid::regclass::text || '.' || a.attname
        from pg_catalog.pg_attribute as a
        inner join pg_catalog.pg_class as c on a.attrelid = c.oid
        where c.relnamespace = 'odl'::regnamespace and c.relkind in ('r', 'p')
            and c.relname in ('plans', 'marketplace_orders', 'marketplace_order_shares', 'escrows',
                'escrow_milestones', 'escrow_disputes', 'psu_budgets', 'psu_ledger', 'psu_reservations')
            and a.atttypid in ('real'::regtype, 'double precision'::regtype, 'money'::regtype)
    $$,
    'money and PSU are never floats'
);
set local role odl_app;
select results_eq(
    $$select party, amount_minor from odl.odl_fee_shares('template_resale', 999) order by party$$,
    $$values ('designer', 300::bigint), ('enterprise', 599::bigint), ('platform', 100::bigint)$$,
    'fee shares round half up and leave the rest to the remainder party (odl_app may ask)'
);
reset role;

set local role odl_app;
select throws_ok(
    $$select odl.odl_psu_charge(1, 'k')$$, 'ODC01', 'no tenant context is set', 'a charge needs a context'
);
reset role;

set local role odl_admin;
do $$
declare
    tenant text := odl.odl_create_tenant('Metered', 'EU');
begin
    perform set_config('fixture.tenant', tenant, true);
    perform set_config('fixture.user', odl.odl_create_user(tenant, 'eng@metered.example', 'engineer'), true);
end
$$;
reset role;
set local role odl_app;
select odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.user'));
select throws_ok(
    $$select odl.odl_psu_charge(1, 'k')$$, 'ODM02', 'the tenant has no PSU budget for the current period',
    'without a budget nothing is charged'
);
select throws_ok(
    $$select odl.odl_psu_grant(10)$$, 'ODR01', 'permission denied: granting PSU is for the tenant''s administrator',
    'an engineer grants no PSU'
);
select throws_ok(
    $$select odl.odl_psu_settle('01J00000000000000000000000', null)$$, 'ODM03', 'PSU reservation does not exist',
    'an unknown reservation is not held'
);
select throws_ok(
    $$select odl.odl_escrow_apply_event(1)$$, 'ODM09', 'governance event does not exist',
    'only governance events of the ledger release escrow'
);
reset role;

select * from finish();
rollback;
