-- PSU metering. Every movement of PSU locks the tenant's budget of the
-- current period first (then, if there is one, the user's), so a tenant's
-- charges, reservations and settlements run one at a time, retries
-- included: the idempotency key is looked up under that lock, the hard
-- limit is checked before anything is written, and the budgets' CHECK
-- constraints (granted = consumed + reserved + remaining, nothing
-- negative) hold at every commit. Reservations past their expiry are
-- returned to the budgets under the same lock, by whichever call comes
-- next (or by odl_psu_expire()).

insert into odl.error_codes (sqlstate, name, meaning) values
('ODM01', 'psu_budget_exceeded', 'The PSU asked for exceed what remains of the tenant''s or the user''s budget'),
('ODM02', 'no_psu_budget', 'The tenant has no PSU budget for the current period'),
('ODM03', 'reservation_not_held', 'The PSU reservation does not exist, expired or was already settled otherwise'),
('ODM04', 'idempotency_conflict', 'The idempotency key was used before for a different request'),
('ODM05', 'unknown_plan', 'No plan has that code'),
('ODM06', 'budget_below_use', 'A budget cannot be granted less than it has consumed and reserved'),
('ODM07', 'unknown_order', 'No marketplace order, escrow or dispute with that id is visible in the current tenant'),
('ODM08', 'escrow_state', 'The escrow''s or dispute''s state does not allow the operation'),
('ODM09', 'unknown_governance_event', 'No governance event with that seq is in the tenant''s audit ledger')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.psu_expire_held(tenant_id text)
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- Returns the PSU of the tenant's overdue reservations to their budgets.
-- The caller holds the lock on the tenant's current budget.
declare
    r record;
    expired integer := 0;
    tenant_left bigint;
    user_left bigint;
begin
    for r in
        select v.reservation_id, v.user_id, v.tenant_budget_id, v.user_budget_id, v.amount
        from odl.psu_reservations as v
        where v.tenant_id = psu_expire_held.tenant_id and v.status = 'held' and v.expires_at <= now()
        order by v.reservation_id
        for update
    loop
        update odl.psu_reservations as v
        set status = 'expired', settled_at = now()
        where v.tenant_id = psu_expire_held.tenant_id and v.reservation_id = r.reservation_id;
        update odl.psu_budgets as b
        set reserved = b.reserved - r.amount, remaining = b.remaining + r.amount
        where b.tenant_id = psu_expire_held.tenant_id and b.budget_id = r.tenant_budget_id
        returning b.remaining into tenant_left;
        user_left := null;
        if r.user_budget_id is not null then
            update odl.psu_budgets as b
            set reserved = b.reserved - r.amount, remaining = b.remaining + r.amount
            where b.tenant_id = psu_expire_held.tenant_id and b.budget_id = r.user_budget_id
            returning b.remaining into user_left;
        end if;
        insert into odl.psu_ledger (
            tenant_id, entry_id, kind, user_id, tenant_budget_id, user_budget_id, consumed_delta, reserved_delta,
            reservation_id, tenant_remaining, user_remaining
        ) values (
            psu_expire_held.tenant_id, odl.odl_ulid(), 'expire', r.user_id, r.tenant_budget_id, r.user_budget_id,
            0, -r.amount, r.reservation_id, tenant_left, user_left
        );
        perform odl.audit_append(
            'psu.expired',
            jsonb_build_object('reservation_id', r.reservation_id, 'user_id', r.user_id, 'reserved', r.amount)
        );
        expired := expired + 1;
    end loop;
    return expired;
end
$$;

revoke all on function odl.psu_expire_held(text) from public;
comment on function odl.psu_expire_held(text) is
'Expires the tenant''s held reservations past expires_at, returning their PSU to the budgets (ledger kind expire, '
'audited as psu.expired); returns how many. The caller holds the lock on the tenant''s budget';

create or replace function odl.psu_lock_budget(tenant_id text, user_id text)
returns odl.psu_budgets
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- PL/pgSQL rather than SQL: its plans are kept for the session, and this
-- runs on every movement of PSU.
declare
    budget odl.psu_budgets;
begin
    if psu_lock_budget.user_id is null then
        -- The first movement of a month grants the month's budget.
        for attempt in 1..2 loop
            select b.* into budget
            from odl.psu_budgets as b
            where b.tenant_id = psu_lock_budget.tenant_id and b.user_id is null
                and b.period_start <= now() and b.period_end > now()
            order by b.period_start desc
            limit 1
            for update;
            exit when found or attempt = 2;
            perform odl.psu_renew(psu_lock_budget.tenant_id);
        end loop;
    else
        select b.* into budget
        from odl.psu_budgets as b
        where b.tenant_id = psu_lock_budget.tenant_id and b.user_id = psu_lock_budget.user_id
            and b.period_start <= now() and b.period_end > now()
        order by b.period_start desc
        limit 1
        for update;
    end if;
    return budget;
end
$$;

revoke all on function odl.psu_lock_budget(text, text) from public;
comment on function odl.psu_lock_budget(text, text) is
'Locks and returns the budget of the current period of the tenant (user_id null; granted by odl.psu_renew() if '
'none covers now) or of one user; none: all nulls';

create or replace function odl.psu_soft_limits(before odl.psu_budgets, taken bigint)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- Audits psu.soft_limit once for each threshold that this movement crosses
-- upwards (usage = consumed + reserved, against granted).
declare
    used bigint := before.granted - before.remaining;
    threshold smallint;
begin
    if before.budget_id is null or before.granted = 0 then
        return;
    end if;
    foreach threshold in array before.soft_thresholds loop
        if used * 100 < threshold::bigint * before.granted
            and (used + taken) * 100 >= threshold::bigint * before.granted then
            perform odl.audit_append(
                'psu.soft_limit',
                jsonb_build_object(
                    'budget_id', before.budget_id, 'user_id', before.user_id, 'threshold_percent', threshold,
                    'used', used + taken, 'granted', before.granted
                )
            );
        end if;
    end loop;
end
$$;

revoke all on function odl.psu_soft_limits(odl.psu_budgets, bigint) from public;
comment on function odl.psu_soft_limits(odl.psu_budgets, bigint) is
'Audits psu.soft_limit for each of the budget''s soft thresholds (percent of granted) that taking PSU crosses';

create or replace function odl.psu_take(
    kind text,
    amount bigint,
    idempotency_key text,
    tool text,
    project_id text,
    ttl interval
)
returns odl.psu_result
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    tenant_budget odl.psu_budgets;
    user_budget odl.psu_budgets;
    prior record;
    result odl.psu_result;
    -- The ids are made before the lock is taken: a session's first ULID
    -- loads the PL/Python modules, which must not hold up the tenant.
    new_entry text := odl.odl_ulid();
    new_reservation text := case when psu_take.kind = 'reserve' then odl.odl_ulid() end;
    expires timestamptz;
    trial_ended timestamptz;
begin
    if psu_take.amount is null or psu_take.idempotency_key is null then
        raise exception using
            errcode = '22004',
            message = format(
                '%s must not be null', case when psu_take.amount is null then 'amount' else 'idempotency_key' end
            );
    end if;
    if psu_take.amount not between 1 and 100 then
        raise exception using
            errcode = '22023',
            message = 'a task takes 1 to 100 PSU',
            detail = format('amount %s', psu_take.amount);
    end if;
    if length(psu_take.idempotency_key) not between 1 and 200 or length(psu_take.tool) not between 1 and 100 then
        raise exception using
            errcode = '22023',
            message = 'an idempotency key has 1 to 200 characters, a tool name 1 to 100',
            detail = format('idempotency_key of %s, tool of %s characters',
                length(psu_take.idempotency_key), length(psu_take.tool));
    end if;
    if psu_take.ttl is not null and psu_take.ttl not between interval '1 second' and interval '1 day' then
        raise exception using
            errcode = '22023',
            message = 'a reservation lasts 1 second to 1 day',
            detail = format('ttl %s', psu_take.ttl);
    end if;
    if psu_take.project_id is not null then
        perform odl.odl_check_action(psu_take.project_id, 'run_analysis');
    end if;

    -- The lock first: a retry running beside its original waits here and
    -- then finds the original's entry.
    tenant_budget := odl.psu_lock_budget(context.tenant_id, null);

    select l.entry_id, l.kind, l.user_id, l.consumed_delta + l.reserved_delta as amount, l.tool, l.project_id,
        l.reservation_id, l.tenant_remaining, l.user_remaining, v.expires_at
    into prior
    from odl.psu_ledger as l
    left join odl.psu_reservations as v on l.tenant_id = v.tenant_id and l.reservation_id = v.reservation_id
    where l.tenant_id = context.tenant_id and l.idempotency_key = psu_take.idempotency_key;
    if found then
        if prior.kind <> psu_take.kind or prior.user_id <> context.user_id or prior.amount <> psu_take.amount
            or prior.tool is distinct from psu_take.tool or prior.project_id is distinct from psu_take.project_id then
            raise exception using
                errcode = 'ODM04',
                message = 'idempotency key was used for a different request',
                detail = format(
                    'idempotency_key %s: %s of %s PSU by user %s (tool %s, project %s)', psu_take.idempotency_key,
                    prior.kind, prior.amount, prior.user_id, coalesce(prior.tool, 'none'),
                    coalesce(prior.project_id, 'none')
                );
        end if;
        return row(
            prior.entry_id, prior.reservation_id, prior.kind, prior.amount, prior.tenant_remaining,
            prior.user_remaining, prior.expires_at, true
        )::odl.psu_result;
    end if;

    if tenant_budget.budget_id is null then
        raise exception using
            errcode = 'ODM02',
            message = 'the tenant has no PSU budget for the current period',
            detail = format('tenant_id %s at %s', context.tenant_id, now()),
            hint = 'The tenant''s administrator grants one with odl_psu_grant() or odl_subscribe().';
    end if;
    -- A trial that has ended grants nothing more, as billing's catch-up
    -- will record (odl.billing_catch_up()), whether or not it has run yet.
    select s.trial_ends_at into trial_ended
    from odl.subscriptions as s
    where s.tenant_id = context.tenant_id and s.status = 'trial' and s.trial_ends_at <= now();
    if found then
        raise exception using
            errcode = 'ODM01',
            message = format('PSU budget exceeded: %s PSU asked, the trial has ended', psu_take.amount),
            detail = format('tenant_id %s: trial ended at %s', context.tenant_id, trial_ended),
            hint = 'The tenant''s administrator subscribes to a plan with odl_subscribe().';
    end if;
    if odl.psu_expire_held(context.tenant_id) > 0 then
        tenant_budget := odl.psu_lock_budget(context.tenant_id, null);
    end if;
    user_budget := odl.psu_lock_budget(context.tenant_id, context.user_id);

    -- The hard limits, before anything is written.
    if psu_take.amount > tenant_budget.remaining or psu_take.amount > user_budget.remaining then
        raise exception using
            errcode = 'ODM01',
            message = format(
                'PSU budget exceeded: %s PSU asked, %s remain in the %s budget', psu_take.amount,
                least(tenant_budget.remaining, user_budget.remaining),
                case when psu_take.amount > tenant_budget.remaining then 'tenant''s' else 'user''s' end
            ),
            detail = format(
                'tenant budget %s: granted %s, consumed %s, reserved %s, remaining %s; user budget %s',
                tenant_budget.budget_id, tenant_budget.granted, tenant_budget.consumed, tenant_budget.reserved,
                tenant_budget.remaining,
                -- format() renders nulls as empty strings, never as null.
                case when user_budget.budget_id is null then 'none' else format(
                    '%s: granted %s, consumed %s, reserved %s, remaining %s', user_budget.budget_id,
                    user_budget.granted, user_budget.consumed, user_budget.reserved, user_budget.remaining
                ) end
            ),
            hint = 'A Boost Pack adds PSU; no run is billed beyond the budget.';
    end if;

    update odl.psu_budgets as b
    set
        consumed = b.consumed + case when psu_take.kind = 'charge' then psu_take.amount else 0 end,
        reserved = b.reserved + case when psu_take.kind = 'reserve' then psu_take.amount else 0 end,
        remaining = b.remaining - psu_take.amount
    where b.tenant_id = context.tenant_id and b.budget_id in (tenant_budget.budget_id, user_budget.budget_id);

    if psu_take.kind = 'reserve' then
        expires := now() + coalesce(psu_take.ttl, interval '15 minutes');
        insert into odl.psu_reservations (
            tenant_id, reservation_id, user_id, tenant_budget_id, user_budget_id, amount, expires_at
        ) values (
            context.tenant_id, new_reservation, context.user_id, tenant_budget.budget_id, user_budget.budget_id,
            psu_take.amount, expires
        );
    end if;
    result := row(
        new_entry, new_reservation, psu_take.kind, psu_take.amount, tenant_budget.remaining - psu_take.amount,
        user_budget.remaining - psu_take.amount, expires, false
    )::odl.psu_result;
    insert into odl.psu_ledger (
        tenant_id, entry_id, kind, user_id, tenant_budget_id, user_budget_id, consumed_delta, reserved_delta,
        reservation_id, idempotency_key, tool, project_id, tenant_remaining, user_remaining
    ) values (
        context.tenant_id, result.entry_id, psu_take.kind, context.user_id, tenant_budget.budget_id,
        user_budget.budget_id,
        case when psu_take.kind = 'charge' then psu_take.amount else 0 end,
        case when psu_take.kind = 'reserve' then psu_take.amount else 0 end,
        new_reservation, psu_take.idempotency_key, psu_take.tool, psu_take.project_id, result.tenant_remaining,
        result.user_remaining
    );

    perform odl.psu_soft_limits(tenant_budget, psu_take.amount);
    perform odl.psu_soft_limits(user_budget, psu_take.amount);
    perform odl.audit_append(
        case when psu_take.kind = 'charge' then 'psu.charged' else 'psu.reserved' end,
        jsonb_build_object(
            'entry_id', result.entry_id, 'amount', psu_take.amount, 'tool', psu_take.tool,
            'reservation_id', new_reservation, 'idempotency_key', psu_take.idempotency_key
        ),
        psu_take.project_id
    );
    return result;
end
$$;

revoke all on function odl.psu_take(text, bigint, text, text, text, interval) from public;
comment on function odl.psu_take(text, bigint, text, text, text, interval) is
'Charges or reserves PSU for the context''s user, once per idempotency key: the body of odl_psu_charge() and '
'odl_psu_reserve()';

create or replace function odl.odl_psu_charge(
    amount bigint,
    idempotency_key text,
    tool text default null,
    project_id text default null
)
returns odl.psu_result
language sql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select odl.psu_take('charge', amount, idempotency_key, tool, project_id, null)
$$;

revoke all on function odl.odl_psu_charge(bigint, text, text, text) from public;
grant execute on function odl.odl_psu_charge(bigint, text, text, text) to odl_app;
comment on function odl.odl_psu_charge(bigint, text, text, text) is
'Charges 1 to 100 PSU to the acting user, against the tenant''s budget of the current period and the user''s if '
'any. A retry with the same idempotency_key returns the original result (replayed true) as long as the ledger '
'keeps the entry; the same key for another request is ODM04. Over the budget: ODM01, nothing written. '
'With project_id the user needs run_analysis (X on analysis) there';

create or replace function odl.odl_psu_reserve(
    amount bigint,
    idempotency_key text,
    ttl interval default interval '15 minutes',
    tool text default null,
    project_id text default null
)
returns odl.psu_result
language sql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select odl.psu_take('reserve', amount, idempotency_key, tool, project_id, coalesce(ttl, interval '15 minutes'))
$$;

revoke all on function odl.odl_psu_reserve(bigint, text, interval, text, text) from public;
grant execute on function odl.odl_psu_reserve(bigint, text, interval, text, text) to odl_app;
comment on function odl.odl_psu_reserve(bigint, text, interval, text, text) is
'Reserves PSU at plan time like odl_psu_charge() charges them; the reservation expires after ttl (1 s to 1 day) '
'unless odl_psu_settle() consumes or releases it first';

create or replace function odl.odl_psu_settle(reservation_id text, consume bigint)
returns odl.psu_result
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    held record;
    tenant_budget odl.psu_budgets;
    tenant_left bigint;
    user_left bigint;
    result odl.psu_result;
    new_entry text := odl.odl_ulid();
begin
    if odl_psu_settle.reservation_id is null then
        raise exception using errcode = '22004', message = 'reservation_id must not be null';
    end if;
    if odl_psu_settle.consume < 0 then
        raise exception using
            errcode = '22023',
            message = 'consume is a number of PSU, 0 or more, or null to release',
            detail = format('consume %s', odl_psu_settle.consume);
    end if;
    -- The tenant's budget first, as every movement of PSU takes it.
    select b.* into tenant_budget
    from odl.psu_budgets as b
    inner join odl.psu_reservations as v on b.tenant_id = v.tenant_id and b.budget_id = v.tenant_budget_id
    where v.tenant_id = context.tenant_id and v.reservation_id::text = odl_psu_settle.reservation_id
    for update of b;
    if found then
        perform odl.psu_expire_held(context.tenant_id);
    end if;
    select v.* into held
    from odl.psu_reservations as v
    where v.tenant_id = context.tenant_id and v.reservation_id::text = odl_psu_settle.reservation_id
    for update;
    if not found or held.user_id <> context.user_id then
        raise exception using
            errcode = 'ODM03',
            message = 'PSU reservation does not exist',
            detail = format('reservation_id %s of the acting user', odl_psu_settle.reservation_id);
    end if;
    if held.status <> 'held' then
        -- A retry of the settlement that took place returns its result.
        if (held.status = 'consumed' and held.consumed = odl_psu_settle.consume)
            or (held.status = 'released' and odl_psu_settle.consume is null) then
            select
                l.entry_id, l.reservation_id, l.kind, l.consumed_delta, l.tenant_remaining, l.user_remaining,
                held.expires_at, true
            into result
            from odl.psu_ledger as l
            where l.tenant_id = context.tenant_id and l.reservation_id = held.reservation_id
                and l.kind in ('consume', 'release');
            return result;
        end if;
        raise exception using
            errcode = 'ODM03',
            message = format('PSU reservation is %s, no longer held', held.status),
            detail = format('reservation_id %s, settled at %s', held.reservation_id, held.settled_at);
    end if;
    if odl_psu_settle.consume > held.amount then
        raise exception using
            errcode = 'ODM01',
            message = format(
                'PSU budget exceeded: %s PSU consumed, %s reserved', odl_psu_settle.consume, held.amount
            ),
            detail = format('reservation_id %s', held.reservation_id),
            hint = 'Reserve what a task may take; charge any more with odl_psu_charge().';
    end if;

    update odl.psu_budgets as b
    set
        consumed = b.consumed + coalesce(odl_psu_settle.consume, 0),
        reserved = b.reserved - held.amount,
        remaining = b.remaining + held.amount - coalesce(odl_psu_settle.consume, 0)
    where b.tenant_id = context.tenant_id and b.budget_id = held.tenant_budget_id
    returning b.remaining into tenant_left;
    if held.user_budget_id is not null then
        update odl.psu_budgets as b
        set
            consumed = b.consumed + coalesce(odl_psu_settle.consume, 0),
            reserved = b.reserved - held.amount,
            remaining = b.remaining + held.amount - coalesce(odl_psu_settle.consume, 0)
        where b.tenant_id = context.tenant_id and b.budget_id = held.user_budget_id
        returning b.remaining into user_left;
    end if;
    update odl.psu_reservations as v
    set
        status = case when odl_psu_settle.consume is null then 'released' else 'consumed' end,
        consumed = odl_psu_settle.consume,
        settled_at = now()
    where v.tenant_id = context.tenant_id and v.reservation_id = held.reservation_id;
    result := row(
        new_entry, held.reservation_id, case when odl_psu_settle.consume is null then 'release' else 'consume' end,
        coalesce(odl_psu_settle.consume, 0), tenant_left, user_left, held.expires_at, false
    )::odl.psu_result;
    insert into odl.psu_ledger (
        tenant_id, entry_id, kind, user_id, tenant_budget_id, user_budget_id, consumed_delta, reserved_delta,
        reservation_id, tenant_remaining, user_remaining
    ) values (
        context.tenant_id, result.entry_id, result.kind, held.user_id, held.tenant_budget_id, held.user_budget_id,
        coalesce(odl_psu_settle.consume, 0), -held.amount, held.reservation_id, tenant_left, user_left
    );
    perform odl.audit_append(
        'psu.' || case when odl_psu_settle.consume is null then 'released' else 'consumed' end,
        jsonb_build_object(
            'entry_id', result.entry_id, 'reservation_id', held.reservation_id, 'reserved', held.amount,
            'consumed', coalesce(odl_psu_settle.consume, 0)
        )
    );
    return result;
end
$$;

revoke all on function odl.odl_psu_settle(text, bigint) from public;
grant execute on function odl.odl_psu_settle(text, bigint) to odl_app;
comment on function odl.odl_psu_settle(text, bigint) is
'Settles the acting user''s held reservation: consume PSU of it (0 to its amount; the rest goes back) or, with '
'consume null, release it all. A retry of the same settlement returns its result (replayed true); an expired or '
'otherwise settled reservation is ODM03, consuming more than was reserved ODM01';

create or replace function odl.odl_psu_expire()
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
begin
    perform odl.psu_lock_budget(context.tenant_id, null);
    return odl.psu_expire_held(context.tenant_id);
end
$$;

revoke all on function odl.odl_psu_expire() from public;
grant execute on function odl.odl_psu_expire() to odl_app;
comment on function odl.odl_psu_expire() is
'Returns the PSU of the context tenant''s reservations past their expiry to the budgets now (every PSU call does '
'so too); returns how many expired';

create or replace function odl.odl_psu_balance()
returns table (
    scope text, budget_id text, period_start timestamptz, period_end timestamptz, granted bigint, consumed bigint,
    reserved bigint, remaining bigint
)
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
begin
    return query
    select
        case when b.user_id is null then 'tenant' else 'user' end, b.budget_id::text, b.period_start,
        b.period_end, b.granted, b.consumed, b.reserved, b.remaining
    from odl.psu_budgets as b
    where b.tenant_id = context.tenant_id and (b.user_id is null or b.user_id = context.user_id)
        and b.period_start <= now() and b.period_end > now()
    order by 1;
end
$$;

revoke all on function odl.odl_psu_balance() from public;
grant execute on function odl.odl_psu_balance() to odl_app;
comment on function odl.odl_psu_balance() is
'The current period''s PSU budgets of the tenant and of the acting user: granted = consumed + reserved + remaining';
