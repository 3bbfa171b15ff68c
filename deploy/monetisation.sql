-- Deploy odl-db:monetisation to pg
-- requires: tenancy
-- requires: audit_api
-- Plans and subscriptions, PSU budgets with their ledger and reservations,
-- marketplace orders with their fee shares, escrows with milestones that
-- governance events of the audit ledger release, and disputes. Amounts of
-- money are integer minor units (cents) and PSU are integers: never floats.
-- The functions live in sql/100_monetisation (change monetisation_api).

begin;

-- The platform's catalogue (facts §3.1), not tenant data.
create table odl.plans (
    plan_code text primary key,
    name text not null,
    recurring text not null,
    price_minor bigint not null,
    currency text not null,
    priced_per text not null,
    psu_included_per_seat integer,
    psu_soft_thresholds smallint[] not null,
    constraint plans_code_format check (plan_code ~ '^[A-Z][A-Z0-9_]{0,31}$'),
    constraint plans_recurring_valid check (recurring in ('monthly', 'annual', 'none')),
    constraint plans_price_not_negative check (price_minor >= 0),
    constraint plans_currency_format check (currency ~ '^[A-Z]{3}$'),
    constraint plans_priced_per_valid check (priced_per in ('seat', 'organisation')),
    constraint plans_psu_not_negative check (psu_included_per_seat >= 0),
    constraint plans_thresholds_percent check (
        0 < all(psu_soft_thresholds) and 100 >= all(psu_soft_thresholds)
    )
);
comment on table odl.plans is
'The plans a tenant subscribes to (FREE, PRO, ENTERPRISE), with their price and fair-use PSU allowance';
comment on column odl.plans.price_minor is 'Price per priced_per and recurring period, in minor units of currency';
comment on column odl.plans.priced_per is 'seat: the price is per seat; organisation: per subscription';
comment on column odl.plans.psu_included_per_seat is
'PSU included per seat and month (PRO 100); null where the plan states none (FREE, ENTERPRISE: granted by hand)';
comment on column odl.plans.psu_soft_thresholds is
'Percentages of a budget at which a charge records a psu.soft_limit audit event (the facts state none: ours)';
comment on constraint plans_code_format on odl.plans is 'Upper-case plan codes';
comment on constraint plans_recurring_valid on odl.plans is 'monthly, annual or none';
comment on constraint plans_price_not_negative on odl.plans is 'Prices are never negative';
comment on constraint plans_currency_format on odl.plans is 'An ISO 4217 code';
comment on constraint plans_priced_per_valid on odl.plans is 'seat or organisation';
comment on constraint plans_psu_not_negative on odl.plans is 'An allowance is never negative';
comment on constraint plans_thresholds_percent on odl.plans is 'Thresholds are percentages from 1 to 100';
insert into odl.plans (
    plan_code, name, recurring, price_minor, currency, priced_per, psu_included_per_seat, psu_soft_thresholds
) values
('FREE', 'Free', 'none', 0, 'USD', 'organisation', null, '{50,80,90}'),
('PRO', 'Pro', 'monthly', 7900, 'USD', 'seat', 100, '{50,80,90}'),
('ENTERPRISE', 'Enterprise', 'annual', 2500000, 'USD', 'organisation', null, '{50,80,90}');

create table odl.subscriptions (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    subscription_id odl.ulid not null,
    plan_code text not null references odl.plans (plan_code),
    status text not null,
    seats integer not null,
    billing_cycle text not null,
    trial_ends_at timestamptz,
    created_by odl.ulid not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, subscription_id),
    foreign key (tenant_id, created_by) references odl.users (tenant_id, user_id),
    constraint subscriptions_status_valid check (status in ('active', 'trial', 'past_due', 'canceled')),
    constraint subscriptions_seats_not_negative check (seats >= 0),
    constraint subscriptions_cycle_valid check (billing_cycle in ('monthly', 'annual')),
    constraint subscriptions_trial_has_end check ((status = 'trial') = (trial_ends_at is not null))
);
create unique index subscriptions_one_live on odl.subscriptions (tenant_id) where status <> 'canceled';
comment on table odl.subscriptions is 'A tenant''s subscription to a plan: seats and billing cycle';
comment on constraint subscriptions_status_valid on odl.subscriptions is 'active, trial, past_due or canceled';
comment on constraint subscriptions_seats_not_negative on odl.subscriptions is 'Seats are 0 or more';
comment on constraint subscriptions_cycle_valid on odl.subscriptions is 'monthly or annual';
comment on constraint subscriptions_trial_has_end on odl.subscriptions is 'A trial, and only a trial, ends';
comment on index odl.subscriptions_one_live is 'At most one subscription of a tenant is not canceled';

-- A budget of PSU for one period: the tenant's (user_id null) or one
-- user's. The seed keyed it by (org, user, period) with a nullable user,
-- which no primary key allows: the key is a surrogate and the natural key
-- a unique constraint whose NULLs are not distinct (one tenant budget per
-- period start). remaining is stored so that the balance is a CHECK,
-- true at every commit: nothing is ever granted twice or overspent.
create table odl.psu_budgets (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    budget_id odl.ulid not null,
    user_id odl.ulid,
    period_start timestamptz not null,
    period_end timestamptz not null,
    granted bigint not null,
    consumed bigint not null default 0,
    reserved bigint not null default 0,
    remaining bigint not null,
    soft_thresholds smallint[] not null,
    primary key (tenant_id, budget_id),
    foreign key (tenant_id, user_id) references odl.users (tenant_id, user_id),
    constraint psu_budgets_natural_key unique nulls not distinct (tenant_id, user_id, period_start),
    constraint psu_budgets_balance check (granted = consumed + reserved + remaining),
    constraint psu_budgets_not_negative check (consumed >= 0 and reserved >= 0 and remaining >= 0),
    constraint psu_budgets_period check (period_end > period_start)
);
comment on table odl.psu_budgets is
'PSU budgets per period: the tenant''s (user_id null) and optionally one per user; a charge needs room in both';
comment on column odl.psu_budgets.granted is 'PSU granted for the period: the hard limit (overage limit 0)';
comment on column odl.psu_budgets.consumed is 'PSU charged: the sum of the ledger''s consumed_delta for this budget';
comment on column odl.psu_budgets.reserved is 'PSU held by reservations: the sum of the ledger''s reserved_delta';
comment on column odl.psu_budgets.remaining is 'granted - consumed - reserved';
comment on column odl.psu_budgets.soft_thresholds is 'Percentages of granted at which psu.soft_limit is audited';
comment on constraint psu_budgets_natural_key on odl.psu_budgets is
'One budget per tenant, user (null: the tenant''s own) and period start';
comment on constraint psu_budgets_balance on odl.psu_budgets is 'granted = consumed + reserved + remaining';
comment on constraint psu_budgets_not_negative on odl.psu_budgets is 'No overshoot: nothing is negative';
comment on constraint psu_budgets_period on odl.psu_budgets is 'A period ends after it starts';

create table odl.psu_reservations (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    reservation_id odl.ulid not null,
    user_id odl.ulid not null,
    tenant_budget_id odl.ulid not null,
    user_budget_id odl.ulid,
    amount bigint not null,
    consumed bigint,
    status text not null default 'held',
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    settled_at timestamptz,
    primary key (tenant_id, reservation_id),
    foreign key (tenant_id, user_id) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, tenant_budget_id) references odl.psu_budgets (tenant_id, budget_id),
    foreign key (tenant_id, user_budget_id) references odl.psu_budgets (tenant_id, budget_id),
    constraint psu_reservations_amount_positive check (amount > 0),
    constraint psu_reservations_status_valid check (status in ('held', 'consumed', 'released', 'expired')),
    constraint psu_reservations_consumed_within check (
        (status = 'consumed') = (consumed is not null) and consumed between 0 and amount
    ),
    constraint psu_reservations_settled check ((status = 'held') = (settled_at is null))
);
create index psu_reservations_held on odl.psu_reservations (tenant_id, expires_at) where status = 'held';
comment on table odl.psu_reservations is
'PSU reserved at plan time and consumed (charged) or released at completion; expires unless settled by expires_at';
comment on column odl.psu_reservations.consumed is 'The PSU charged when consumed; the rest went back to the budget';
comment on constraint psu_reservations_amount_positive on odl.psu_reservations is 'A reservation holds PSU';
comment on constraint psu_reservations_status_valid on odl.psu_reservations is 'held, consumed, released or expired';
comment on constraint psu_reservations_consumed_within on odl.psu_reservations is
'Only a consumed reservation charged something, at most what it held';
comment on constraint psu_reservations_settled on odl.psu_reservations is 'Every state but held is final';
comment on index odl.psu_reservations_held is 'Finds the reservations to expire';

-- Every movement of PSU, append-only; the budgets are its running sums.
-- An idempotency key names a charge or a reservation forever (as long as
-- the ledger keeps the entry: financial records, 7 years).
create table odl.psu_ledger (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    entry_id odl.ulid not null,
    created_at timestamptz not null default now(),
    kind text not null,
    user_id odl.ulid not null,
    tenant_budget_id odl.ulid not null,
    user_budget_id odl.ulid,
    consumed_delta bigint not null,
    reserved_delta bigint not null,
    reservation_id odl.ulid,
    idempotency_key text,
    tool text,
    project_id odl.ulid,
    tenant_remaining bigint not null,
    user_remaining bigint,
    primary key (tenant_id, entry_id),
    foreign key (tenant_id, user_id) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, tenant_budget_id) references odl.psu_budgets (tenant_id, budget_id),
    foreign key (tenant_id, user_budget_id) references odl.psu_budgets (tenant_id, budget_id),
    foreign key (tenant_id, reservation_id) references odl.psu_reservations (tenant_id, reservation_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    constraint psu_ledger_idempotency_key unique (tenant_id, idempotency_key),
    constraint psu_ledger_kind_valid check (kind in ('charge', 'reserve', 'consume', 'release', 'expire')),
    constraint psu_ledger_keyed check ((kind in ('charge', 'reserve')) = (idempotency_key is not null)),
    constraint psu_ledger_key_length check (length(idempotency_key) between 1 and 200),
    constraint psu_ledger_deltas check (
        case kind
            when 'charge' then consumed_delta > 0 and reserved_delta = 0
            when 'reserve' then consumed_delta = 0 and reserved_delta > 0
            when 'consume' then consumed_delta between 0 and -reserved_delta and reserved_delta < 0
            else consumed_delta = 0 and reserved_delta < 0
        end
    ),
    constraint psu_ledger_reservation check ((kind = 'charge') = (reservation_id is null))
);
create index psu_ledger_reservation on odl.psu_ledger (tenant_id, reservation_id) where reservation_id is not null;
comment on table odl.psu_ledger is
'Every movement of PSU (append-only): budgets.consumed and .reserved are the sums of its deltas';
comment on column odl.psu_ledger.kind is
'charge (consumed at once), reserve, consume (a reservation charged), release or expire (a reservation returned)';
comment on column odl.psu_ledger.idempotency_key is
'The caller''s key of a charge or reservation: a retry with it returns this entry''s result';
comment on column odl.psu_ledger.tenant_remaining is 'The tenant budget''s remaining PSU after this entry';
comment on column odl.psu_ledger.user_remaining is
'The user budget''s remaining PSU after this entry; null without one';
comment on constraint psu_ledger_idempotency_key on odl.psu_ledger is 'A key names one charge or reservation';
comment on constraint psu_ledger_kind_valid on odl.psu_ledger is 'charge, reserve, consume, release or expire';
comment on constraint psu_ledger_keyed on odl.psu_ledger is 'Charges and reservations carry the caller''s key';
comment on constraint psu_ledger_key_length on odl.psu_ledger is 'Keys of 1 to 200 characters';
comment on constraint psu_ledger_deltas on odl.psu_ledger is 'Each kind moves PSU its own way';
comment on constraint psu_ledger_reservation on odl.psu_ledger is 'All but a charge belong to a reservation';
comment on index odl.psu_ledger_reservation is 'The entries of a reservation';

-- Marketplace: who takes what share of an order (facts §3.3), exact to
-- the cent: each share but the remainder party's is rounded half up from
-- basis points, and the remainder party gets the rest.
create table odl.marketplace_flows (
    flow text primary key,
    description text not null
);
comment on table odl.marketplace_flows is 'Kinds of marketplace transaction, each with its fee schedule';
insert into odl.marketplace_flows (flow, description) values
('component_order', 'Component order: 5% platform fee, paid by the supplier at payout'),
('service_handover', 'Service handover: 3% success fee, paid by the managing company on award'),
('template_sale', 'Direct template sale: designer 85%, platform 15%'),
('template_resale', 'Enterprise resale of a PRO template: platform 10%, designer 30%, enterprise 60%');

create table odl.fee_schedule (
    flow text not null references odl.marketplace_flows (flow),
    party text not null,
    basis_points integer,
    primary key (flow, party),
    constraint fee_schedule_basis_points check (basis_points between 0 and 10000)
);
create unique index fee_schedule_one_remainder on odl.fee_schedule (flow) where basis_points is null;
comment on table odl.fee_schedule is
'Each party''s share of a flow in basis points; the party with none takes the remainder, so shares add up exactly';
comment on constraint fee_schedule_basis_points on odl.fee_schedule is 'From 0 to 100%';
comment on index odl.fee_schedule_one_remainder is 'One party per flow takes the remainder';
insert into odl.fee_schedule (flow, party, basis_points) values
('component_order', 'platform', 500),
('component_order', 'supplier', null),
('service_handover', 'platform', 300),
('service_handover', 'manager', null),
('template_sale', 'platform', 1500),
('template_sale', 'designer', null),
('template_resale', 'platform', 1000),
('template_resale', 'designer', 3000),
('template_resale', 'enterprise', null);

create table odl.marketplace_orders (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    order_id odl.ulid not null,
    project_id odl.ulid not null,
    flow text not null references odl.marketplace_flows (flow),
    currency text not null,
    item_total_minor bigint not null,
    processing_fee_minor bigint not null,
    grand_total_minor bigint not null,
    status text not null default 'created',
    created_by odl.ulid not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, order_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    foreign key (tenant_id, created_by) references odl.users (tenant_id, user_id),
    constraint marketplace_orders_currency_format check (currency ~ '^[A-Z]{3}$'),
    constraint marketplace_orders_item_total_positive check (item_total_minor > 0),
    constraint marketplace_orders_processing_not_negative check (processing_fee_minor >= 0),
    constraint marketplace_orders_grand_total check (grand_total_minor = item_total_minor + processing_fee_minor),
    constraint marketplace_orders_status_valid check (
        status in ('created', 'paid', 'fulfilled', 'partially_refunded', 'refunded', 'canceled')
    )
);
comment on table odl.marketplace_orders is
'Marketplace transactions in minor units: the buyer pays grand_total = item_total + processing fee (at cost); '
'the parties'' shares of item_total are in odl.marketplace_order_shares';
comment on constraint marketplace_orders_currency_format on odl.marketplace_orders is 'An ISO 4217 code';
comment on constraint marketplace_orders_item_total_positive on odl.marketplace_orders is 'An order costs something';
comment on constraint marketplace_orders_processing_not_negative on odl.marketplace_orders is 'Fees are not negative';
comment on constraint marketplace_orders_grand_total on odl.marketplace_orders is 'What the buyer pays, exactly';
comment on constraint marketplace_orders_status_valid on odl.marketplace_orders is 'The order statuses of the facts';

create table odl.marketplace_order_shares (
    tenant_id odl.ulid not null,
    order_id odl.ulid not null,
    party text not null,
    basis_points integer,
    amount_minor bigint not null,
    primary key (tenant_id, order_id, party),
    foreign key (tenant_id, order_id) references odl.marketplace_orders (tenant_id, order_id),
    constraint marketplace_order_shares_not_negative check (amount_minor >= 0)
);
comment on table odl.marketplace_order_shares is
'Each party''s share of an order''s item total in minor units; the shares of an order add up to it exactly';
comment on column odl.marketplace_order_shares.basis_points is 'The schedule''s share; null for the remainder party';
comment on constraint marketplace_order_shares_not_negative on odl.marketplace_order_shares is 'No negative share';

-- Governance events (facts §3.3) as audit actions governance.<name>; the
-- five milestone triggers release escrow milestones, and a site QR scan
-- counts as commissioning started.
create table odl.governance_event_names (
    event_name text primary key,
    releases text references odl.governance_event_names (event_name),
    action text not null,
    constraint governance_event_names_format check (event_name ~ '^[a-z_]{1,40}$')
);
comment on table odl.governance_event_names is
'The governance events; releases names the milestone trigger an event counts as (null: it releases nothing)';
comment on column odl.governance_event_names.action is 'The action of odl.rbac_actions whose right records it';
comment on constraint governance_event_names_format on odl.governance_event_names is 'snake_case names';
insert into odl.governance_event_names (event_name, releases, action) values
('publish_design', null, 'approve_phase_change'),
('approve_merge', null, 'approve_phase_change'),
('commissioning_started', null, 'run_operations_job'),
('commissioning_completed', null, 'run_operations_job'),
('warranty_event_logged', null, 'run_operations_job'),
('provider_switched', null, 'approve_phase_change'),
('handover_revoked', null, 'approve_phase_change');
update odl.governance_event_names set releases = event_name
where event_name in ('publish_design', 'approve_merge', 'commissioning_started', 'commissioning_completed');
insert into odl.governance_event_names (event_name, releases, action) values
('qr_scanned_on_site', 'commissioning_started', 'run_operations_job');

create table odl.escrows (
    tenant_id odl.ulid not null,
    escrow_id odl.ulid not null,
    order_id odl.ulid not null,
    project_id odl.ulid not null,
    currency text not null,
    amount_minor bigint not null,
    released_minor bigint not null default 0,
    refunded_minor bigint not null default 0,
    status text not null default 'open',
    status_before_dispute text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, escrow_id),
    foreign key (tenant_id, order_id) references odl.marketplace_orders (tenant_id, order_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    constraint escrows_one_per_order unique (tenant_id, order_id),
    constraint escrows_amounts check (
        amount_minor > 0 and released_minor >= 0 and refunded_minor >= 0
        and released_minor + refunded_minor <= amount_minor
    ),
    constraint escrows_status_valid check (
        status in ('open', 'partially_released', 'released', 'disputed', 'refunded')
    ),
    constraint escrows_status_matches check (
        case status
            when 'open' then released_minor = 0 and refunded_minor = 0
            when 'partially_released' then released_minor > 0 and released_minor < amount_minor
            when 'released' then released_minor = amount_minor
            when 'refunded' then released_minor + refunded_minor = amount_minor and refunded_minor > 0
            else true
        end
    ),
    constraint escrows_dispute_remembers check (
        (status = 'disputed') = coalesce(status_before_dispute in ('open', 'partially_released'), false)
    )
);
comment on table odl.escrows is
'Money held for an order, released milestone by milestone by governance events; a dispute pauses every release';
comment on column odl.escrows.status_before_dispute is 'The state a won or closed dispute returns to';
comment on constraint escrows_one_per_order on odl.escrows is 'An order has at most one escrow';
comment on constraint escrows_amounts on odl.escrows is 'Never more released and refunded than escrowed';
comment on constraint escrows_status_valid on odl.escrows is
'open, partially_released, released, disputed or refunded';
comment on constraint escrows_status_matches on odl.escrows is 'The status agrees with the amounts';
comment on constraint escrows_dispute_remembers on odl.escrows is
'A disputed escrow remembers the state it left (open or partially_released), and only a disputed one';

create table odl.escrow_milestones (
    tenant_id odl.ulid not null,
    escrow_id odl.ulid not null,
    position smallint not null,
    name text not null,
    amount_minor bigint not null,
    trigger_event text not null references odl.governance_event_names (event_name),
    due_at timestamptz,
    released_at timestamptz,
    release_event_seq bigint,
    release_event_id odl.ulid,
    primary key (tenant_id, escrow_id, position),
    foreign key (tenant_id, escrow_id) references odl.escrows (tenant_id, escrow_id),
    constraint escrow_milestones_event_once unique (tenant_id, escrow_id, release_event_id),
    constraint escrow_milestones_position check (position between 1 and 10),
    constraint escrow_milestones_amount_positive check (amount_minor > 0),
    constraint escrow_milestones_released_by_event check (
        (released_at is null) = (release_event_seq is null) and (released_at is null) = (release_event_id is null)
    )
);
comment on table odl.escrow_milestones is
'Up to 10 milestones of an escrow, adding up to its amount; each released once, by an audit event naming its trigger';
comment on column odl.escrow_milestones.release_event_seq is
'The seq, in the tenant''s audit chain, of the governance event that released the milestone';
comment on column odl.escrow_milestones.release_event_id is 'That event''s event_id';
comment on constraint escrow_milestones_event_once on odl.escrow_milestones is
'One governance event releases at most one milestone of an escrow, so a replayed event releases nothing';
comment on constraint escrow_milestones_position on odl.escrow_milestones is 'At most 10 milestones';
comment on constraint escrow_milestones_amount_positive on odl.escrow_milestones is 'A milestone releases money';
comment on constraint escrow_milestones_released_by_event on odl.escrow_milestones is
'A milestone is released by an audit event, which it names';

create table odl.escrow_disputes (
    tenant_id odl.ulid not null,
    dispute_id odl.ulid not null,
    escrow_id odl.ulid not null,
    reason text not null,
    status text not null default 'needs_response',
    amount_contested_minor bigint not null,
    opened_by odl.ulid not null,
    opened_at timestamptz not null default now(),
    closed_at timestamptz,
    primary key (tenant_id, dispute_id),
    foreign key (tenant_id, escrow_id) references odl.escrows (tenant_id, escrow_id),
    foreign key (tenant_id, opened_by) references odl.users (tenant_id, user_id),
    constraint escrow_disputes_reason_valid check (
        reason in ('fraud', 'product_not_received', 'not_as_described', 'duplicate', 'duplicate_order', 'other')
    ),
    constraint escrow_disputes_status_valid check (
        status in ('needs_response', 'under_review', 'won', 'lost', 'closed')
    ),
    constraint escrow_disputes_closed check ((status in ('won', 'lost', 'closed')) = (closed_at is not null)),
    constraint escrow_disputes_amount_positive check (amount_contested_minor > 0)
);
create unique index escrow_disputes_one_open on odl.escrow_disputes (tenant_id, escrow_id) where closed_at is null;
comment on table odl.escrow_disputes is 'Disputes of an escrow; an open one pauses its releases';
comment on constraint escrow_disputes_reason_valid on odl.escrow_disputes is 'The dispute reasons of the facts';
comment on constraint escrow_disputes_status_valid on odl.escrow_disputes is
'needs_response, under_review, won, lost or closed';
comment on constraint escrow_disputes_closed on odl.escrow_disputes is 'won, lost and closed are final';
comment on constraint escrow_disputes_amount_positive on odl.escrow_disputes is 'A dispute contests some money';
comment on index odl.escrow_disputes_one_open is 'At most one open dispute per escrow';

-- What odl_psu_charge(), odl_psu_reserve() and odl_psu_settle() return.
create type odl.psu_result as (
    entry_id text,
    reservation_id text,
    kind text,
    amount bigint,
    tenant_remaining bigint,
    user_remaining bigint,
    expires_at timestamptz,
    replayed boolean
);
alter type odl.psu_result owner to odl_owner;
comment on type odl.psu_result is
'A movement of PSU: the ledger entry, its reservation, its kind and amount, the remaining PSU of the tenant''s '
'and the user''s budget after it, when a reservation expires, and whether this call replayed an earlier one';

-- Forced RLS on every tenant table; no grants: the API reads and writes
-- them as their owner, analysts read the views of monetisation_api.
do $$
declare
    t text;
begin
    foreach t in array array[
        'subscriptions', 'psu_budgets', 'psu_reservations', 'psu_ledger', 'marketplace_orders',
        'marketplace_order_shares', 'escrows', 'escrow_milestones', 'escrow_disputes'
    ] loop
        execute format('alter table odl.%I enable row level security', t);
        execute format('alter table odl.%I force row level security', t);
        execute format(
            'create policy tenant_isolation on odl.%I '
            'using (tenant_id = (select c.tenant_id from odl.current_context as c)) '
            'with check (tenant_id = (select c.tenant_id from odl.current_context as c))',
            t
        );
        execute format('revoke all on odl.%I from public', t);
    end loop;
end
$$;
revoke all on odl.plans, odl.marketplace_flows, odl.fee_schedule, odl.governance_event_names from public;


call odl.adopt_objects();

commit;
