-- Verify odl-db:monetisation_api on pg

select 'odl.odl_psu_charge(bigint, text, text, text)'::regprocedure;
select 'odl.odl_psu_reserve(bigint, text, interval, text, text)'::regprocedure;
select 'odl.odl_psu_settle(text, bigint)'::regprocedure;
select 'odl.odl_psu_expire()'::regprocedure;
select 'odl.odl_psu_balance()'::regprocedure;
select 'odl.odl_psu_grant(bigint, text, timestamptz, timestamptz)'::regprocedure;
select 'odl.odl_subscribe(text, integer, text, timestamptz)'::regprocedure;
select 'odl.psu_renew(text)'::regprocedure;
select 'odl.odl_create_order(text, text, text, bigint, bigint)'::regprocedure;
select 'odl.odl_open_escrow(text, jsonb)'::regprocedure;
select 'odl.odl_governance_event(text, text, jsonb)'::regprocedure;
select 'odl.odl_escrow_apply_event(bigint)'::regprocedure;
select 'odl.odl_open_dispute(text, text, bigint)'::regprocedure;
select 'odl.odl_resolve_dispute(text, text)'::regprocedure;
select 1 / (count(*) = 9)::int from odl.error_codes where sqlstate like 'ODM%';
select 1 / (count(*) = 3)::int
from pg_catalog.pg_class as c
where c.oid in (
    'odl.analyst_psu_usage'::regclass, 'odl.analyst_psu_budgets'::regclass, 'odl.analyst_escrows'::regclass
)
and 'security_barrier=true' = any(c.reloptions)
and pg_catalog.has_table_privilege('odl_analyst', c.oid, 'SELECT')
and not pg_catalog.has_table_privilege('odl_app', c.oid, 'SELECT');
select 'odl.odl_fee_shares(text, bigint)'::regprocedure;
