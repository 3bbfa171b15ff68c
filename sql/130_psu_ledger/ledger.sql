-- The partitioned PSU ledger (change psu_ledger_v2): its key table written
-- with every keyed entry, its partition maintenance, and what retention
-- asks before a month of it goes. odl.log_retention() retires a month of
-- the ledger only when odl.psu_ledger_month_hold() finds nothing that still
-- needs it, and deletes the month's keys in the same transaction, before
-- the DETACH: no key or trace is left pointing at a dropped partition.

-- A key names one entry across every month: the key table's primary key
-- refuses a second entry with it (unique_violation), whichever month the
-- first lies in. odl.psu_take() still finds the first under the budget's
-- lock, so the refusal is a backstop, never the path of a retry.
create or replace function odl.psu_ledger_key_write()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    insert into odl.psu_ledger_keys (tenant_id, idempotency_key, entry_id, created_at)
    values (new.tenant_id, new.idempotency_key, new.entry_id, new.created_at);
    return null;
end
$$;

revoke all on function odl.psu_ledger_key_write() from public;
comment on function odl.psu_ledger_key_write() is
'Trigger of odl.psu_ledger: records a charge''s or reservation''s idempotency key in odl.psu_ledger_keys, which '
'keeps it unique per tenant across every month';

create or replace trigger psu_ledger_keys
after insert on odl.psu_ledger
for each row when (new.idempotency_key is not null) execute function odl.psu_ledger_key_write();
comment on trigger psu_ledger_keys on odl.psu_ledger is
'Each keyed entry''s key goes to odl.psu_ledger_keys in the same statement: a key used twice is refused';

-- pg_partman bounds new partitions in the session's time zone: UTC months.
create or replace procedure odl.psu_ledger_maintenance()
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
set timezone = 'UTC'
as $$
declare
    partman_schema text;
    part regclass;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_extension as e
    where e.extname = 'pg_partman';
    execute format('select %I.run_maintenance(p_parent_table := %L)', partman_schema, 'odl.psu_ledger');
    for part in
        select i.inhrelid::regclass
        from pg_inherits as i
        inner join pg_class as c on i.inhrelid = c.oid
        where i.inhparent = 'odl.psu_ledger'::regclass
            and (c.relowner <> 'odl_owner'::regrole or obj_description(c.oid, 'pg_class') is null)
    loop
        execute format('alter table %s owner to odl_owner', part);
        execute format(
            'comment on table %s is %L', part,
            'Monthly partition of odl.psu_ledger, made by pg_partman; read and written through the parent'
        );
    end loop;
end
$$;

revoke all on procedure odl.psu_ledger_maintenance() from public;
comment on procedure odl.psu_ledger_maintenance() is -- noqa: LT01
'Makes the next months'' partitions of the PSU ledger with pg_partman, in UTC, and gives them to odl_owner; '
'odl.log_maintenance() runs it (daily, as a superuser); retention is odl.log_retention()''s';

-- Why a month of the ledger must stay, or null. Seven years is the
-- policy; these hold a month past it: an entry of a reservation still
-- held (its consume or release is yet to come), an entry charged to a
-- budget whose period has not ended (its consumed total is the sum of the
-- entries), an invoice of the same tenant not settled (draft, open or
-- past_due) whose period overlaps the month, and a tool-call trace whose
-- charge lies in it (traces retire after 13 months: only a longer trace
-- policy can hold one).
create or replace function odl.psu_ledger_month_hold(range_start timestamptz, range_end timestamptz)
returns text
language sql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select coalesce(
        (
            select format('reservation %s of tenant %s is still held', v.reservation_id, v.tenant_id)
            from odl.psu_ledger as l
            inner join odl.psu_reservations as v on l.tenant_id = v.tenant_id and l.reservation_id = v.reservation_id
            where l.created_at >= range_start and l.created_at < range_end and v.status = 'held'
            limit 1
        ),
        (
            select format('budget %s of tenant %s runs until %s', b.budget_id, b.tenant_id, b.period_end)
            from odl.psu_ledger as l
            inner join odl.psu_budgets as b
                on l.tenant_id = b.tenant_id and b.budget_id in (l.tenant_budget_id, l.user_budget_id)
            where l.created_at >= range_start and l.created_at < range_end and b.period_end > now()
            limit 1
        ),
        (
            select format('invoice %s of tenant %s is %s', i.invoice_id, i.tenant_id, i.status)
            from odl.invoices as i
            where i.status in ('draft', 'open', 'past_due')
                and i.period_start < range_end and i.period_end > range_start
                and exists (
                    select from odl.psu_ledger as l
                    where l.tenant_id = i.tenant_id and l.created_at >= range_start and l.created_at < range_end
                )
            limit 1
        ),
        (
            select format('tool-call trace %s of tenant %s is charged by entry %s', t.span_id, t.tenant_id, k.entry_id)
            from odl.psu_ledger_keys as k
            inner join odl.tool_call_traces as t on k.tenant_id = t.tenant_id and k.entry_id = t.odl_psu_entry_id
            where k.created_at >= range_start and k.created_at < range_end
            limit 1
        )
    )
$$;

revoke all on function odl.psu_ledger_month_hold(timestamptz, timestamptz) from public;
comment on function odl.psu_ledger_month_hold(timestamptz, timestamptz) is
'Why the PSU ledger''s month [range_start, range_end) must not be retired yet (a held reservation, a budget still '
'running, an unsettled invoice overlapping it, a trace charged in it), or null: odl.log_retention() asks it';

-- The keys of a retired month go in the same transaction as its partition,
-- before the DETACH (their foreign key would refuse it otherwise).
create or replace function odl.psu_ledger_retire_keys(range_start timestamptz, range_end timestamptz)
returns bigint
language sql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    with gone as (
        delete from odl.psu_ledger_keys as k
        where k.created_at >= range_start and k.created_at < range_end
        returning 1
    )
    select count(*) from gone
$$;

revoke all on function odl.psu_ledger_retire_keys(timestamptz, timestamptz) from public;
comment on function odl.psu_ledger_retire_keys(timestamptz, timestamptz) is
'Deletes the idempotency keys of the PSU ledger''s month [range_start, range_end), which odl.log_retention() is '
'about to drop; returns how many';
