-- Deploy odl-db:billing to pg
-- requires: monetisation
-- Billing: what a tenant owes for its subscription, cycle by cycle, with
-- upgrades prorated at once and downgrades at the next cycle (facts §3.1),
-- and the invoices that gather it together with the PSU used, from the PSU
-- ledger. Money is integer minor units. The functions are the change
-- billing_api's (sql/120_billing).

begin;

-- A plan change: an upgrade applies at once with its proration, a
-- downgrade (or a change of billing cycle) waits for the cycle's end.
create table odl.subscription_changes (
    tenant_id odl.ulid not null,
    change_id odl.ulid not null,
    subscription_id odl.ulid not null,
    kind text not null,
    from_plan_code text not null references odl.plans (plan_code),
    from_seats integer not null,
    from_billing_cycle text not null,
    to_plan_code text not null references odl.plans (plan_code),
    to_seats integer not null,
    to_billing_cycle text not null,
    requested_by odl.ulid not null,
    requested_at timestamptz not null default now(),
    effective_at timestamptz not null,
    applied_at timestamptz,
    canceled_at timestamptz,
    primary key (tenant_id, change_id),
    foreign key (tenant_id, subscription_id) references odl.subscriptions (tenant_id, subscription_id),
    foreign key (tenant_id, requested_by) references odl.users (tenant_id, user_id),
    constraint subscription_changes_kind_valid check (kind in ('upgrade', 'downgrade')),
    constraint subscription_changes_seats_not_negative check (from_seats >= 0 and to_seats >= 0),
    constraint subscription_changes_one_outcome check (applied_at is null or canceled_at is null),
    constraint subscription_changes_upgrade_at_once check (
        kind <> 'upgrade' or (effective_at = requested_at and applied_at = requested_at)
    )
);
create unique index subscription_changes_one_pending on odl.subscription_changes (tenant_id, subscription_id)
where applied_at is null and canceled_at is null;
comment on table odl.subscription_changes is
'Plan, seat and cycle changes of a subscription: upgrades apply at once (prorated), downgrades at the cycle''s end';
comment on column odl.subscription_changes.effective_at is
'When the change applies: at once for an upgrade, the end of the current cycle for a downgrade';
comment on column odl.subscription_changes.canceled_at is 'A pending downgrade replaced by a later change';
comment on constraint subscription_changes_kind_valid on odl.subscription_changes is 'upgrade or downgrade';
comment on constraint subscription_changes_seats_not_negative on odl.subscription_changes is 'Seats are 0 or more';
comment on constraint subscription_changes_one_outcome on odl.subscription_changes is
'A change is applied or canceled, not both';
comment on constraint subscription_changes_upgrade_at_once on odl.subscription_changes is
'An upgrade applies when it is asked for';
comment on index odl.subscription_changes_one_pending is 'At most one change of a subscription waits';

create table odl.invoices (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    invoice_id odl.ulid not null,
    period_start timestamptz not null,
    period_end timestamptz not null,
    currency text not null,
    total_minor bigint not null,
    psu_used bigint not null,
    status text not null default 'open',
    issued_by odl.ulid not null,
    issued_at timestamptz not null default now(),
    primary key (tenant_id, invoice_id),
    foreign key (tenant_id, issued_by) references odl.users (tenant_id, user_id),
    constraint invoices_period check (period_end > period_start),
    constraint invoices_currency_format check (currency ~ '^[A-Z]{3}$'),
    constraint invoices_psu_not_negative check (psu_used >= 0),
    constraint invoices_status_valid check (status in ('draft', 'open', 'paid', 'void', 'refunded', 'past_due'))
);
comment on table odl.invoices is
'Invoices of a tenant, one per period (periods never overlap): subscription cycles and prorations billed in the '
'period, and the PSU its budgets consumed that no earlier invoice counted';
comment on column odl.invoices.total_minor is 'The sum of the lines'' amounts, in minor units of currency';
comment on column odl.invoices.psu_used is 'The sum of the lines'' PSU: consumption from the PSU ledger';
comment on constraint invoices_period on odl.invoices is 'A period ends after it starts';
comment on constraint invoices_currency_format on odl.invoices is 'An ISO 4217 code';
comment on constraint invoices_psu_not_negative on odl.invoices is 'PSU used is not negative';
comment on constraint invoices_status_valid on odl.invoices is 'The invoice statuses of the facts';

-- What a subscription costs: one row per cycle billed (in advance, at the
-- cycle's start) and per upgrade (prorated), each invoiced once.
create table odl.billing_items (
    tenant_id odl.ulid not null,
    item_id odl.ulid not null,
    subscription_id odl.ulid not null,
    kind text not null,
    plan_code text not null references odl.plans (plan_code),
    seats integer not null,
    billing_cycle text not null,
    period_start timestamptz not null,
    period_end timestamptz not null,
    billed_at timestamptz not null,
    amount_minor bigint not null,
    currency text not null,
    change_id odl.ulid,
    invoice_id odl.ulid,
    primary key (tenant_id, item_id),
    foreign key (tenant_id, subscription_id) references odl.subscriptions (tenant_id, subscription_id),
    foreign key (tenant_id, change_id) references odl.subscription_changes (tenant_id, change_id),
    foreign key (tenant_id, invoice_id) references odl.invoices (tenant_id, invoice_id),
    constraint billing_items_kind_valid check (kind in ('cycle', 'proration')),
    constraint billing_items_period check (period_end > period_start),
    constraint billing_items_amount_not_negative check (amount_minor >= 0),
    constraint billing_items_currency_format check (currency ~ '^[A-Z]{3}$'),
    constraint billing_items_proration_of_change check ((kind = 'proration') = (change_id is not null))
);
create unique index billing_items_one_cycle on odl.billing_items (tenant_id, subscription_id, period_start)
where kind = 'cycle';
create index billing_items_uninvoiced on odl.billing_items (tenant_id, billed_at) where invoice_id is null;
comment on table odl.billing_items is
'What a tenant owes for its subscription: each cycle (billed in advance at its start) and each upgrade''s '
'proration; an invoice takes each item once';
comment on column odl.billing_items.period_start is 'The cycle, or for a proration the rest of the cycle, billed';
comment on column odl.billing_items.billed_at is 'When the item is owed: the cycle''s start, or the upgrade''s time';
comment on column odl.billing_items.invoice_id is 'The invoice that billed the item; null until one does';
comment on constraint billing_items_kind_valid on odl.billing_items is 'cycle or proration';
comment on constraint billing_items_period on odl.billing_items is 'A period ends after it starts';
comment on constraint billing_items_amount_not_negative on odl.billing_items is 'Charges are not negative';
comment on constraint billing_items_currency_format on odl.billing_items is 'An ISO 4217 code';
comment on constraint billing_items_proration_of_change on odl.billing_items is
'A proration, and only a proration, belongs to a plan change';
comment on index odl.billing_items_one_cycle is 'A cycle of a subscription is billed once';
comment on index odl.billing_items_uninvoiced is 'The items the next invoice takes';

create table odl.invoice_lines (
    tenant_id odl.ulid not null,
    invoice_id odl.ulid not null,
    line_no smallint not null,
    kind text not null,
    description text not null,
    amount_minor bigint not null,
    psu bigint not null default 0,
    item_id odl.ulid,
    budget_id odl.ulid,
    primary key (tenant_id, invoice_id, line_no),
    foreign key (tenant_id, invoice_id) references odl.invoices (tenant_id, invoice_id),
    foreign key (tenant_id, item_id) references odl.billing_items (tenant_id, item_id),
    foreign key (tenant_id, budget_id) references odl.psu_budgets (tenant_id, budget_id),
    constraint invoice_lines_at_most_500 check (line_no between 1 and 500),
    constraint invoice_lines_kind_valid check (kind in ('cycle', 'proration', 'psu')),
    constraint invoice_lines_source check (
        case kind
            when 'psu' then budget_id is not null and item_id is null and psu > 0 and amount_minor = 0
            else item_id is not null and budget_id is null and psu = 0
        end
    ),
    constraint invoice_lines_item_once unique (tenant_id, item_id)
);
comment on table odl.invoice_lines is
'Lines of an invoice: a billing item, or the PSU a budget consumed since the last invoice (included in the plan: '
'no per-run billing, so its amount is 0)';
comment on column odl.invoice_lines.psu is 'PSU consumed, from the PSU ledger, not counted by an earlier invoice';
comment on constraint invoice_lines_at_most_500 on odl.invoice_lines is 'An invoice has at most 500 lines';
comment on constraint invoice_lines_kind_valid on odl.invoice_lines is 'cycle, proration or psu';
comment on constraint invoice_lines_source on odl.invoice_lines is
'A line bills an item, or counts a budget''s PSU at no charge';
comment on constraint invoice_lines_item_once on odl.invoice_lines is 'An item is invoiced once';

do $$
declare
    t text;
begin
    foreach t in array array['subscription_changes', 'invoices', 'billing_items', 'invoice_lines'] loop
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

call odl.adopt_objects();

commit;
