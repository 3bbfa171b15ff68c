-- Billing's shape: tenant-keyed tables under forced RLS with composite
-- foreign keys, money in integer minor units, the prices of the facts,
-- at most 500 lines an invoice, and no API call without a context.
begin;
select plan(11);

select has_table('odl', 'invoices', 'invoices exist');
select has_table('odl', 'invoice_lines', 'invoice lines exist');
select has_table('odl', 'billing_items', 'billing items exist');
select has_table('odl', 'subscription_changes', 'subscription changes exist');
select is_empty(
    $$
        select c.relname from pg_catalog.pg_class as c
        where c.oid in ('odl.invoices'::regclass, 'odl.invoice_lines'::regclass, 'odl.billing_items'::regclass,
            'odl.subscription_changes'::regclass)
            and not (c.relrowsecurity and c.relforcerowsecurity)
    $$,
    'every billing table has RLS enabled and forced'
);
select is_empty(
    $$
        select con.conname from pg_catalog.pg_constraint as con
        where con.conrelid in ('odl.invoices'::regclass, 'odl.invoice_lines'::regclass,
            'odl.billing_items'::regclass, 'odl.subscription_changes'::regclass)
            and con.contype = 'f'
            and con.confrelid <> 'odl.plans'::regclass
            and (select a.attname from pg_catalog.pg_attribute as a
                where a.attrelid = con.conrelid and a.attnum = con.conkey[1]) <> 'tenant_id'
    $$,
    'every foreign key of billing but to the plans'' catalogue leads with tenant_id'
);
select is_empty(
    $$
        select a.attrelid::regclass::text || '.' || a.attname from pg_catalog.pg_attribute as a
        where a.attrelid in ('odl.invoices'::regclass, 'odl.invoice_lines'::regclass,
            'odl.billing_items'::regclass)
            and a.attname like '%minor' and a.atttypid <> 'bigint'::regtype
    $$,
    'money is integer minor units'
);
select results_eq(
    $$
        select odl.cycle_amount(p, s, c) from (values
            ('PRO', 1, 'monthly'), ('PRO', 1, 'annual'), ('ENTERPRISE', 1, 'annual'), ('FREE', 5, 'annual')
        ) as v (p, s, c)
    $$,
    $$values (7900::bigint), (85320::bigint), (2500000::bigint), (0::bigint)$$,
    'PRO is $79 a seat a month or $853.20 a year (10% off), ENTERPRISE $25,000 a year, FREE nothing'
);
select col_has_check('odl', 'invoice_lines', 'line_no', 'an invoice has at most 500 lines');
select throws_ok(
    $$select * from odl.odl_change_plan('PRO', 3)$$, 'ODC01', 'no tenant context is set',
    'changing the plan needs a context'
);
select throws_ok(
    $$select odl.odl_issue_invoice(now() - interval '1 month', now())$$, 'ODC01', 'no tenant context is set',
    'issuing an invoice needs a context'
);

select * from finish();
rollback;
