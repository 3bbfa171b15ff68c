-- Subscription cycles: what each costs, billed in advance at its start,
-- and how a subscription moves on: a trial that ended drops to FREE, and a
-- downgrade waiting for the cycle's end applies when the next one starts.
-- odl.billing_catch_up() brings one tenant up to now; every billing call
-- runs it first, and odl.billing_maintenance() runs it for every tenant.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODJ02', 'plan_change_changes_nothing', 'The plan, seats and billing cycle asked for are the subscription''s own'),
('ODJ03', 'no_live_subscription', 'The tenant has no subscription that is not canceled'),
('ODJ04', 'invoice_period_open', 'An invoice is issued for a period that has ended'),
('ODJ05', 'invoice_period_overlap', 'The period overlaps one the tenant was already invoiced for'),
('ODJ06', 'unknown_invoice', 'No invoice with that id is visible in the current tenant')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.cycle_interval(billing_cycle text)
returns interval
language sql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select case billing_cycle when 'annual' then interval '1 year' else interval '1 month' end
$$;

revoke all on function odl.cycle_interval(text) from public;
comment on function odl.cycle_interval(text) is 'The length of a billing cycle: 1 month or 1 year';

create or replace function odl.cycle_amount(plan_code text, seats integer, billing_cycle text)
returns bigint
language sql
stable
strict
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    -- Facts §3.1: monthly by default, annual prepay 10% off. A plan priced
    -- by the year (ENTERPRISE) billed monthly pays a twelfth [derived].
    -- round() of a numeric rounds half away from zero: half up here.
    select case
        when p.recurring = 'annual' and billing_cycle = 'annual' then p.price_minor * u.units
        when p.recurring = 'annual' then round(p.price_minor * u.units / 12.0)::bigint
        when billing_cycle = 'annual' then round(p.price_minor * u.units * 12 * 0.9)::bigint
        else p.price_minor * u.units
    end
    from odl.plans as p
    cross join lateral (select case when p.priced_per = 'seat' then seats else 1 end::bigint as units) as u
    where p.plan_code = cycle_amount.plan_code
$$;

revoke all on function odl.cycle_amount(text, integer, text) from public;
comment on function odl.cycle_amount(text, integer, text) is
'What one billing cycle of a plan costs, in its minor units: price x seats (per-seat plans) a month, or x 12 less '
'10% a year; a yearly plan billed monthly pays a twelfth, rounded half up';

create or replace function odl.billing_catch_up(tenant_id text)
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    sub odl.subscriptions;
    pending odl.subscription_changes;
    next_start timestamptz;
    billed integer := 0;
    free_id text;
begin
    select s.* into sub
    from odl.subscriptions as s
    where s.tenant_id = billing_catch_up.tenant_id and s.status <> 'canceled'
    for update;
    if not found then
        return 0;
    end if;
    -- An ended trial drops to FREE from the trial's end (facts §3.1). FREE
    -- includes no PSU: the month's budget keeps what it consumed and
    -- reserved and grants nothing more.
    if sub.status = 'trial' and sub.trial_ends_at <= now() then
        update odl.subscriptions as s set status = 'canceled', trial_ends_at = null
        where s.tenant_id = sub.tenant_id and s.subscription_id = sub.subscription_id;
        free_id := odl.odl_ulid();
        insert into odl.subscriptions (
            tenant_id, subscription_id, plan_code, status, seats, billing_cycle, created_by, created_at
        ) values (
            sub.tenant_id, free_id, 'FREE', 'active', sub.seats, 'monthly', sub.created_by, sub.trial_ends_at
        );
        with tenant_budget as (
            select b.budget_id from odl.psu_budgets as b
            where b.tenant_id = sub.tenant_id and b.user_id is null and b.period_start <= now()
                and b.period_end > now()
            for update
        )
        update odl.psu_budgets as b
        set granted = b.consumed + b.reserved, remaining = 0
        from tenant_budget as t
        where b.tenant_id = sub.tenant_id and b.budget_id = t.budget_id and b.remaining > 0;
        perform odl.audit_append_as(
            sub.tenant_id, null, 'subscription.trial_expired',
            jsonb_build_object(
                'subscription_id', sub.subscription_id, 'plan_code', sub.plan_code,
                'trial_ended_at', sub.trial_ends_at, 'free_subscription_id', free_id
            )
        );
        select s.* into sub from odl.subscriptions as s
        where s.tenant_id = sub.tenant_id and s.subscription_id = free_id;
    elsif sub.status = 'trial' then
        perform odl.psu_renew(sub.tenant_id);
        return 0;
    end if;

    loop
        select coalesce(max(i.period_end), sub.created_at) into next_start
        from odl.billing_items as i
        where i.tenant_id = sub.tenant_id and i.subscription_id = sub.subscription_id and i.kind = 'cycle';
        exit when next_start > now();
        select c.* into pending
        from odl.subscription_changes as c
        where c.tenant_id = sub.tenant_id and c.subscription_id = sub.subscription_id
            and c.applied_at is null and c.canceled_at is null and c.effective_at <= next_start;
        if found then
            update odl.subscriptions as s
            set plan_code = pending.to_plan_code, seats = pending.to_seats, billing_cycle = pending.to_billing_cycle
            where s.tenant_id = sub.tenant_id and s.subscription_id = sub.subscription_id
            returning s.* into sub;
            update odl.subscription_changes as c set applied_at = next_start
            where c.tenant_id = pending.tenant_id and c.change_id = pending.change_id;
            perform odl.audit_append_as(
                sub.tenant_id, null, 'subscription.changed',
                jsonb_build_object(
                    'subscription_id', sub.subscription_id, 'change_id', pending.change_id, 'kind', pending.kind,
                    'plan_code', sub.plan_code, 'seats', sub.seats, 'billing_cycle', sub.billing_cycle,
                    'effective_at', next_start
                )
            );
        end if;
        insert into odl.billing_items (
            tenant_id, item_id, subscription_id, kind, plan_code, seats, billing_cycle, period_start, period_end,
            billed_at, amount_minor, currency
        )
        select
            sub.tenant_id, odl.odl_ulid(), sub.subscription_id, 'cycle', sub.plan_code, sub.seats, sub.billing_cycle,
            next_start, next_start + odl.cycle_interval(sub.billing_cycle), next_start,
            odl.cycle_amount(sub.plan_code, sub.seats, sub.billing_cycle), p.currency
        from odl.plans as p
        where p.plan_code = sub.plan_code;
        billed := billed + 1;
    end loop;
    perform odl.psu_renew(sub.tenant_id);
    return billed;
end
$$;

revoke all on function odl.billing_catch_up(text) from public;
comment on function odl.billing_catch_up(text) is
'Brings a tenant''s subscription up to now: an ended trial drops to FREE (and its month''s budget grants no more '
'PSU), each cycle begun is billed at its start, a downgrade due applies as its cycle begins, the month''s PSU are '
'granted (odl.psu_renew()); returns the cycles billed. Audited as the system';

create or replace function odl.billing_maintenance()
returns table (tenants integer, cycles_billed integer)
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    tenant record;
begin
    if not (select r.rolsuper from pg_roles as r where r.rolname = current_user) then
        raise exception using
            errcode = '42501',
            message = 'permission denied: billing maintenance runs as a superuser',
            detail = format('current_user %s', current_user);
    end if;
    tenants := 0;
    cycles_billed := 0;
    -- A tenant on its way to another region is billed there, after its move.
    for tenant in
        select s.tenant_id from odl.subscriptions as s
        where s.status <> 'canceled'
            and not exists (select from odl.tenant_departures as d where d.tenant_id = s.tenant_id)
    loop
        cycles_billed := cycles_billed + odl.billing_catch_up(tenant.tenant_id);
        tenants := tenants + 1;
    end loop;
    return next;
end
$$;

revoke all on function odl.billing_maintenance() from public;
comment on function odl.billing_maintenance() is
'Runs odl.billing_catch_up() for every tenant with a live subscription: ended trials drop to FREE, cycles begun '
'are billed, downgrades due apply. Run it daily (or hourly) as a superuser';
