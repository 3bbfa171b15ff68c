-- Subscriptions and PSU grants: acts of the tenant's administrator (a human
-- super_user with MFA, odl.is_tenant_admin()).

create or replace function odl.require_tenant_admin(what text, out tenant_id text, out user_id text)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
begin
    require_tenant_admin.tenant_id := context.tenant_id;
    require_tenant_admin.user_id := context.user_id;
    if not odl.is_tenant_admin() then
        raise exception using
            errcode = 'ODR01',
            message = format('permission denied: %s is for the tenant''s administrator', what),
            detail = format('user_id %s is not a human super_user with MFA', context.user_id);
    end if;
end
$$;

revoke all on function odl.require_tenant_admin(text) from public;
comment on function odl.require_tenant_admin(text) is
'Raises ODR01, naming the act, unless the context''s user administers the tenant; returns the context';

create or replace function odl.odl_psu_grant(
    granted bigint,
    user_id text default null,
    period_start timestamptz default null,
    period_end timestamptz default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_tenant_admin('granting PSU');
    starts timestamptz := coalesce(
        odl_psu_grant.period_start, date_trunc('month', now() at time zone 'UTC') at time zone 'UTC'
    );
    ends timestamptz;
    budget odl.psu_budgets;
    thresholds smallint[];
begin
    ends := coalesce(odl_psu_grant.period_end, starts + interval '1 month');
    if odl_psu_grant.granted is null then
        raise exception using errcode = '22004', message = 'granted must not be null';
    end if;
    if odl_psu_grant.granted < 0 or ends <= starts then
        raise exception using
            errcode = '22023',
            message = 'a budget grants 0 or more PSU for a period that ends after it starts',
            detail = format('granted %s, period %s to %s', odl_psu_grant.granted, starts, ends);
    end if;
    if odl_psu_grant.user_id is not null and not exists (
        select from odl.users as u
        where u.tenant_id = context.tenant_id and u.user_id::text = odl_psu_grant.user_id
    ) then
        raise exception using
            errcode = 'ODC02',
            message = 'user does not belong to tenant',
            detail = format('tenant_id %s, user_id %s', context.tenant_id, odl_psu_grant.user_id);
    end if;
    -- The tenant's budget of that period first, as every movement of PSU
    -- locks it, then the budget granted.
    perform
    from odl.psu_budgets as b
    where b.tenant_id = context.tenant_id and b.user_id is null and b.period_start = starts
    for update;
    select b.* into budget
    from odl.psu_budgets as b
    where b.tenant_id = context.tenant_id and b.user_id is not distinct from odl_psu_grant.user_id
        and b.period_start = starts
    for update;
    if found then
        if odl_psu_grant.granted < budget.consumed + budget.reserved or budget.period_end <> ends then
            raise exception using
                errcode = 'ODM06',
                message = 'a budget cannot be granted less than it has consumed and reserved, nor change its period',
                detail = format(
                    'budget %s: consumed %s, reserved %s, ends %s; asked granted %s, ends %s', budget.budget_id,
                    budget.consumed, budget.reserved, budget.period_end, odl_psu_grant.granted, ends
                );
        end if;
        update odl.psu_budgets as b
        set granted = odl_psu_grant.granted, remaining = odl_psu_grant.granted - b.consumed - b.reserved
        where b.tenant_id = context.tenant_id and b.budget_id = budget.budget_id;
    else
        if exists (
            select from odl.psu_budgets as b
            where b.tenant_id = context.tenant_id and b.user_id is not distinct from odl_psu_grant.user_id
                and b.period_start < ends and b.period_end > starts
        ) then
            raise exception using
                errcode = '22023',
                message = 'the period overlaps another budget''s',
                detail = format('user_id %s, period %s to %s', coalesce(odl_psu_grant.user_id, 'none'), starts, ends);
        end if;
        select p.psu_soft_thresholds into thresholds
        from odl.subscriptions as s
        inner join odl.plans as p on s.plan_code = p.plan_code
        where s.tenant_id = context.tenant_id and s.status <> 'canceled';
        budget.budget_id := odl.odl_ulid();
        insert into odl.psu_budgets (
            tenant_id, budget_id, user_id, period_start, period_end, granted, remaining, soft_thresholds
        ) values (
            context.tenant_id, budget.budget_id, odl_psu_grant.user_id, starts, ends, odl_psu_grant.granted,
            odl_psu_grant.granted, coalesce(thresholds, '{50,80,90}')
        );
    end if;
    perform odl.audit_append(
        'psu.granted',
        jsonb_build_object(
            'budget_id', budget.budget_id, 'user_id', odl_psu_grant.user_id, 'granted', odl_psu_grant.granted,
            'period_start', starts, 'period_end', ends
        )
    );
    return budget.budget_id;
end
$$;

revoke all on function odl.odl_psu_grant(bigint, text, timestamptz, timestamptz) from public;
grant execute on function odl.odl_psu_grant(bigint, text, timestamptz, timestamptz) to odl_app;
comment on function odl.odl_psu_grant(bigint, text, timestamptz, timestamptz) is
'Sets the PSU granted to the tenant (user_id null) or to one user for a period (default: the current UTC month); '
'returns the budget''s id. Tenant administrator only (ODR01); never below what is consumed and reserved (ODM06)';

-- A plan's PSU come back every month (facts §3.2: PRO 100 per user a
-- month). The month's tenant budget is granted the first time the month
-- needs it: by the first PSU movement of the month (odl.psu_lock_budget()),
-- or by billing's catch-up, whichever comes first; so no job has to run at
-- midnight on the 1st. It holds the allowance of the live subscription's
-- plan (per seat x seats) plus what the previous budget left unused
-- ("rollover allowed", facts §3.2 [impl]), at most one month's allowance
-- [ours: the facts state no cap]. It covers the rest of the UTC month, or
-- less where a budget granted by hand begins or ends within it; a budget
-- covering now is never touched. A trial past its end, and plans that state
-- no allowance (FREE, ENTERPRISE: granted by hand), get nothing.
create or replace function odl.psu_renew(tenant_id text)
returns text
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    month_start constant timestamptz := date_trunc('month', now() at time zone 'UTC') at time zone 'UTC';
    month_end constant timestamptz := month_start + interval '1 month';
    plan record;
    starts timestamptz;
    ends timestamptz;
    covered boolean;
    carried bigint;
    new_id text := odl.odl_ulid();
begin
    select s.subscription_id, s.plan_code, p.psu_included_per_seat::bigint * s.seats as allowance,
        p.psu_soft_thresholds as thresholds
    into plan
    from odl.subscriptions as s
    inner join odl.plans as p on s.plan_code = p.plan_code
    where s.tenant_id = psu_renew.tenant_id and p.psu_included_per_seat is not null
        and (s.status = 'active' or s.status = 'trial' and s.trial_ends_at > now());
    if not found then
        return null;
    end if;
    -- The gap of this month that holds now, between the tenant's budgets.
    select
        coalesce(max(b.period_end) filter (where b.period_end <= now()), month_start),
        coalesce(min(b.period_start) filter (where b.period_start > now()), month_end),
        coalesce(bool_or(b.period_start <= now() and b.period_end > now()), false)
    into starts, ends, covered
    from odl.psu_budgets as b
    where b.tenant_id = psu_renew.tenant_id and b.user_id is null
        and b.period_start < month_end and b.period_end > month_start;
    if covered then
        return null;
    end if;
    select least(b.remaining, plan.allowance) into carried
    from odl.psu_budgets as b
    where b.tenant_id = psu_renew.tenant_id and b.user_id is null and b.period_end = starts;
    carried := coalesce(carried, 0);
    -- Two first movements of the month race here: the second waits for the
    -- first's key and then inserts nothing.
    insert into odl.psu_budgets (
        tenant_id, budget_id, user_id, period_start, period_end, granted, remaining, soft_thresholds
    ) values (
        psu_renew.tenant_id, new_id, null, starts, ends, plan.allowance + carried, plan.allowance + carried,
        plan.thresholds
    )
    on conflict on constraint psu_budgets_natural_key do nothing;
    if not found then
        return null;
    end if;
    perform odl.audit_append_as(
        psu_renew.tenant_id, null, 'psu.renewed',
        jsonb_build_object(
            'budget_id', new_id, 'subscription_id', plan.subscription_id, 'plan_code', plan.plan_code,
            'allowance', plan.allowance, 'carried', carried, 'period_start', starts, 'period_end', ends
        )
    );
    return new_id;
end
$$;

revoke all on function odl.psu_renew(text) from public;
comment on function odl.psu_renew(text) is
'Grants the tenant''s budget for the part of the UTC month that holds now, when none covers now and the live '
'subscription''s plan includes PSU: its allowance (per seat x seats) plus what the previous budget left, at most '
'one allowance more; audited psu.renewed as the system. Returns the new budget''s id, else null';

create or replace function odl.odl_subscribe(
    plan_code text,
    seats integer,
    billing_cycle text default 'monthly',
    trial_ends_at timestamptz default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_tenant_admin('subscribing');
    plan odl.plans;
    new_id text := odl.odl_ulid();
begin
    select p.* into plan from odl.plans as p where p.plan_code = odl_subscribe.plan_code;
    if not found then
        raise exception using
            errcode = 'ODM05',
            message = 'plan does not exist',
            detail = format('plan_code %s', quote_nullable(odl_subscribe.plan_code)),
            hint = 'The plans are listed in odl.plans.';
    end if;
    if odl_subscribe.seats is null or odl_subscribe.billing_cycle is null then
        raise exception using errcode = '22004', message = 'seats and billing_cycle must not be null';
    end if;
    if odl_subscribe.seats not between 0 and 1000000 or odl_subscribe.billing_cycle not in ('monthly', 'annual')
        or odl_subscribe.trial_ends_at <= now() then
        raise exception using
            errcode = '22023',
            message = 'a subscription has 0 to 1,000,000 seats, a monthly or annual cycle and a trial ending later',
            detail = format(
                'seats %s, billing_cycle %s, trial_ends_at %s', odl_subscribe.seats, odl_subscribe.billing_cycle,
                coalesce(odl_subscribe.trial_ends_at::text, 'none')
            );
    end if;
    update odl.subscriptions as s set status = 'canceled', trial_ends_at = null
    where s.tenant_id = context.tenant_id and s.status <> 'canceled';
    insert into odl.subscriptions (
        tenant_id, subscription_id, plan_code, status, seats, billing_cycle, trial_ends_at, created_by
    ) values (
        context.tenant_id, new_id, plan.plan_code,
        case when odl_subscribe.trial_ends_at is null then 'active' else 'trial' end,
        odl_subscribe.seats, odl_subscribe.billing_cycle, odl_subscribe.trial_ends_at, context.user_id
    );
    perform odl.audit_append(
        'subscription.created',
        jsonb_build_object(
            'subscription_id', new_id, 'plan_code', plan.plan_code, 'seats', odl_subscribe.seats,
            'billing_cycle', odl_subscribe.billing_cycle
        )
    );
    -- The plan's included PSU for this month, never below what is in use.
    if plan.psu_included_per_seat is not null then
        perform odl.odl_psu_grant(
            greatest(
                plan.psu_included_per_seat::bigint * odl_subscribe.seats,
                coalesce((
                    select b.consumed + b.reserved from odl.psu_budgets as b
                    where b.tenant_id = context.tenant_id and b.user_id is null
                        and b.period_start = date_trunc('month', now() at time zone 'UTC') at time zone 'UTC'
                ), 0)
            )
        );
    end if;
    return new_id;
end
$$;

revoke all on function odl.odl_subscribe(text, integer, text, timestamptz) from public;
grant execute on function odl.odl_subscribe(text, integer, text, timestamptz) to odl_app;
comment on function odl.odl_subscribe(text, integer, text, timestamptz) is
'Subscribes the tenant to a plan (the live subscription is canceled), with seats and a billing cycle, as a trial '
'when trial_ends_at is given; a plan that includes PSU grants the tenant this month''s: per seat x seats. '
'Tenant administrator only; returns the subscription''s id';
