-- What a tenant's users may know of its subscription: the plan and seats
-- they work under, the cycle in progress, and a change waiting for the
-- cycle's end. Read after the subscription is brought up to now, so that an
-- ended trial or a cycle begun since the last call is already counted.

create or replace function odl.odl_subscription()
returns table (
    subscription_id text,
    plan_code text,
    status text,
    seats integer,
    billing_cycle text,
    trial_ends_at timestamptz,
    period_start timestamptz,
    period_end timestamptz,
    pending_change_id text,
    pending_plan_code text,
    pending_seats integer,
    pending_billing_cycle text,
    pending_effective_at timestamptz
)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
begin
    perform odl.billing_catch_up(context.tenant_id);
    return query
    select
        s.subscription_id::text, s.plan_code, s.status, s.seats, s.billing_cycle, s.trial_ends_at,
        cycle.period_start, cycle.period_end,
        c.change_id::text, c.to_plan_code, c.to_seats, c.to_billing_cycle, c.effective_at
    from odl.subscriptions as s
    left join lateral (
        select i.period_start, i.period_end
        from odl.billing_items as i
        where i.tenant_id = s.tenant_id and i.subscription_id = s.subscription_id and i.kind = 'cycle'
        order by i.period_start desc
        limit 1
    ) as cycle on true
    left join odl.subscription_changes as c
        on c.tenant_id = s.tenant_id and c.subscription_id = s.subscription_id
        and c.applied_at is null and c.canceled_at is null
    where s.tenant_id = context.tenant_id and s.status <> 'canceled';
end
$$;

revoke all on function odl.odl_subscription() from public;
grant execute on function odl.odl_subscription() to odl_app;
comment on function odl.odl_subscription() is
'The context tenant''s live subscription, brought up to now (odl.billing_catch_up): plan, status, seats, cycle, '
'trial end, the billing cycle in progress (none during a trial) and the change waiting for its end, if any; no row '
'without a subscription. Any user of the tenant may read it';
