-- Changing plan, seats or billing cycle (facts §3.1): an upgrade (a cycle
-- that costs more, same billing cycle) applies at once and bills the
-- difference for the rest of the cycle, prorated by time and rounded half
-- up to the cent; anything else (fewer seats, a cheaper plan, another
-- billing cycle) waits for the current cycle to end, and replaces a change
-- already waiting. During a trial nothing is billed, so a change applies
-- at once.

create or replace function odl.odl_change_plan(plan_code text, seats integer, billing_cycle text default null)
returns table (change_id text, kind text, effective_at timestamptz, proration_minor bigint)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_tenant_admin('changing the plan');
    plan odl.plans;
    sub odl.subscriptions;
    current_cycle odl.billing_items;
    old_amount bigint;
    new_cycle text;
    new_amount bigint;
    tenant_granted bigint;
begin
    select p.* into plan from odl.plans as p where p.plan_code = odl_change_plan.plan_code;
    if not found then
        raise exception using
            errcode = 'ODM05',
            message = 'plan does not exist',
            detail = format('plan_code %s', quote_nullable(odl_change_plan.plan_code)),
            hint = 'The plans are listed in odl.plans.';
    end if;
    if odl_change_plan.seats is null or odl_change_plan.seats not between 0 and 1000000
        or odl_change_plan.billing_cycle not in ('monthly', 'annual')
    then
        raise exception using
            errcode = '22023',
            message = 'a subscription has 0 to 1,000,000 seats and a monthly or annual cycle',
            detail = format(
                'seats %s, billing_cycle %s', coalesce(odl_change_plan.seats::text, 'null'),
                coalesce(odl_change_plan.billing_cycle, 'unchanged')
            );
    end if;
    perform odl.billing_catch_up(context.tenant_id);
    select s.* into sub
    from odl.subscriptions as s
    where s.tenant_id = context.tenant_id and s.status <> 'canceled'
    for update;
    if not found then
        raise exception using
            errcode = 'ODJ03',
            message = 'tenant has no live subscription',
            detail = format('tenant_id %s', context.tenant_id),
            hint = 'Subscribe with odl_subscribe() first.';
    end if;
    new_cycle := coalesce(odl_change_plan.billing_cycle, sub.billing_cycle);
    if sub.plan_code = plan.plan_code and sub.seats = odl_change_plan.seats and sub.billing_cycle = new_cycle then
        raise exception using
            errcode = 'ODJ02',
            message = 'plan change changes nothing',
            detail = format('the subscription is already %s, %s seats, %s', sub.plan_code, sub.seats, new_cycle);
    end if;
    select i.* into current_cycle
    from odl.billing_items as i
    where i.tenant_id = sub.tenant_id and i.subscription_id = sub.subscription_id and i.kind = 'cycle'
        and i.period_start <= now() and i.period_end > now();
    new_amount := odl.cycle_amount(plan.plan_code, odl_change_plan.seats, new_cycle);
    -- What the cycle costs as the subscription stands (after any upgrade
    -- earlier in the cycle), not what its start billed.
    old_amount := odl.cycle_amount(sub.plan_code, sub.seats, sub.billing_cycle);
    change_id := odl.odl_ulid();
    proration_minor := 0;
    -- Any change waiting is replaced by this one.
    update odl.subscription_changes as c set canceled_at = now()
    where c.tenant_id = sub.tenant_id and c.subscription_id = sub.subscription_id
        and c.applied_at is null and c.canceled_at is null;

    if sub.status = 'trial' or (current_cycle.item_id is not null and new_cycle = sub.billing_cycle
        and new_amount > old_amount)
    then
        kind := case when new_amount > old_amount then 'upgrade' else 'downgrade' end;
        effective_at := now();
        insert into odl.subscription_changes (
            tenant_id, change_id, subscription_id, kind, from_plan_code, from_seats, from_billing_cycle,
            to_plan_code, to_seats, to_billing_cycle, requested_by, requested_at, effective_at, applied_at
        ) values (
            sub.tenant_id, change_id, sub.subscription_id, kind, sub.plan_code, sub.seats, sub.billing_cycle,
            plan.plan_code, odl_change_plan.seats, new_cycle, context.user_id, now(), now(), now()
        );
        if sub.status <> 'trial' then
            -- The difference for the rest of the cycle, by the microsecond.
            proration_minor := round(
                (new_amount - old_amount)::numeric
                * extract(epoch from current_cycle.period_end - now())
                / extract(epoch from current_cycle.period_end - current_cycle.period_start)
            )::bigint;
            insert into odl.billing_items (
                tenant_id, item_id, subscription_id, kind, plan_code, seats, billing_cycle, period_start, period_end,
                billed_at, amount_minor, currency, change_id
            ) values (
                sub.tenant_id, odl.odl_ulid(), sub.subscription_id, 'proration', plan.plan_code,
                odl_change_plan.seats, new_cycle, now(), current_cycle.period_end, now(), proration_minor, plan.currency,
                change_id
            );
        end if;
        update odl.subscriptions as s
        set plan_code = plan.plan_code, seats = odl_change_plan.seats, billing_cycle = new_cycle
        where s.tenant_id = sub.tenant_id and s.subscription_id = sub.subscription_id;
        -- The new plan's PSU for this month, as odl_subscribe() grants it.
        if plan.psu_included_per_seat is not null then
            select b.granted into tenant_granted
            from odl.psu_budgets as b
            where b.tenant_id = sub.tenant_id and b.user_id is null
                and b.period_start = date_trunc('month', now() at time zone 'UTC') at time zone 'UTC';
            if coalesce(tenant_granted, -1) < plan.psu_included_per_seat::bigint * odl_change_plan.seats then
                perform odl.odl_psu_grant(plan.psu_included_per_seat::bigint * odl_change_plan.seats);
            end if;
        end if;
    else
        kind := 'downgrade';
        effective_at := coalesce(current_cycle.period_end, now());
        insert into odl.subscription_changes (
            tenant_id, change_id, subscription_id, kind, from_plan_code, from_seats, from_billing_cycle,
            to_plan_code, to_seats, to_billing_cycle, requested_by, effective_at
        ) values (
            sub.tenant_id, change_id, sub.subscription_id, 'downgrade', sub.plan_code, sub.seats, sub.billing_cycle,
            plan.plan_code, odl_change_plan.seats, new_cycle, context.user_id, effective_at
        );
    end if;
    perform odl.audit_append(
        'subscription.change_requested',
        jsonb_build_object(
            'subscription_id', sub.subscription_id, 'change_id', change_id, 'kind', kind,
            'from', jsonb_build_object('plan_code', sub.plan_code, 'seats', sub.seats, 'billing_cycle', sub.billing_cycle),
            'to', jsonb_build_object(
                'plan_code', plan.plan_code, 'seats', odl_change_plan.seats, 'billing_cycle', new_cycle
            ),
            'effective_at', effective_at, 'proration_minor', proration_minor
        )
    );
    return next;
end
$$;

revoke all on function odl.odl_change_plan(text, integer, text) from public;
grant execute on function odl.odl_change_plan(text, integer, text) to odl_app;
comment on function odl.odl_change_plan(text, integer, text) is
'Changes the tenant''s plan, seats or billing cycle: an upgrade (a dearer cycle, same billing cycle) applies at '
'once and bills the difference for the rest of the cycle, prorated and rounded half up; any other change waits '
'for the cycle''s end. Returns the change, its kind, when it applies and the proration. Tenant administrator only. '
'ODR01, ODM05, ODJ02, ODJ03, 22023';
