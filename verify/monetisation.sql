-- Verify odl-db:monetisation on pg

select plan_code, recurring, price_minor, psu_included_per_seat, psu_soft_thresholds from odl.plans where false;
select tenant_id, subscription_id, plan_code, status, seats, billing_cycle from odl.subscriptions where false;
select tenant_id, budget_id, user_id, granted, consumed, reserved, remaining from odl.psu_budgets where false;
select tenant_id, reservation_id, amount, consumed, status, expires_at from odl.psu_reservations where false;
select tenant_id, entry_id, kind, consumed_delta, reserved_delta, idempotency_key from odl.psu_ledger where false;
select flow, party, basis_points from odl.fee_schedule where false;
select tenant_id, order_id, flow, item_total_minor, grand_total_minor from odl.marketplace_orders where false;
select tenant_id, order_id, party, amount_minor from odl.marketplace_order_shares where false;
select event_name, releases, action from odl.governance_event_names where false;
select tenant_id, escrow_id, amount_minor, released_minor, refunded_minor, status from odl.escrows where false;
select tenant_id, escrow_id, position, trigger_event, release_event_seq from odl.escrow_milestones where false;
select tenant_id, dispute_id, escrow_id, status from odl.escrow_disputes where false;
-- Every tenant table under forced RLS, and the balance a constraint.
select 1 / (count(*) = 9)::int
from pg_catalog.pg_class as c
where c.oid in (
    'odl.subscriptions'::regclass, 'odl.psu_budgets'::regclass, 'odl.psu_reservations'::regclass,
    'odl.psu_ledger'::regclass, 'odl.marketplace_orders'::regclass, 'odl.marketplace_order_shares'::regclass,
    'odl.escrows'::regclass, 'odl.escrow_milestones'::regclass, 'odl.escrow_disputes'::regclass
)
and c.relrowsecurity and c.relforcerowsecurity;
select 1 / count(*)::int
from pg_catalog.pg_constraint
where conrelid = 'odl.psu_budgets'::regclass and conname = 'psu_budgets_balance';
select (null::odl.psu_result).replayed;
