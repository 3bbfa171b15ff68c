-- Anchors of the audit chains (change retention). Retention drops whole
-- months of audit events; what vouches afterwards for the first event kept
-- is an anchor: the seq and hash of each tenant's last event up to the
-- dropped month's end, signed with the ledger's key like a digest. The
-- next event's prev_hash is that hash, so verification starts there
-- instead of at the genesis hash (odl.audit_chain_base()).
--
-- Before anchoring, the month is verified on its own (each event's hash
-- from its columns, each link to the event before, the first one to the
-- previous anchor or the genesis): a month already tampered with is never
-- laundered into an anchor.
--
-- These functions belong to odl_ledger, pin search_path to pg_catalog and
-- pg_temp and name odl objects in full, like the rest of the ledger.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODT01', 'audit_month_broken', 'The month of audit events to retire does not verify; nothing was anchored or dropped'),
('ODT02', 'retention_out_of_order', 'Only a complete month older than every other partition may be retired')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.audit_anchor_message(tenant_id text, seq bigint, hash bytea, event_time timestamptz)
returns bytea
language sql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, pg_temp
as $$
    select convert_to(
        concat_ws(
            '|', 'odl-audit-anchor-v1', tenant_id, seq, encode(hash, 'hex'),
            to_char(event_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        ),
        'UTF8'
    )
$$;

alter function odl.audit_anchor_message(text, bigint, bytea, timestamptz) owner to odl_ledger;
revoke all on function odl.audit_anchor_message(text, bigint, bytea, timestamptz) from public;
comment on function odl.audit_anchor_message(text, bigint, bytea, timestamptz) is
'The bytes an anchor''s signature covers: odl-audit-anchor-v1|tenant_id|seq|hash (hex)|event_time (UTC, ISO 8601)';

-- Where verification of a tenant's chain starts: the latest anchor, or seq
-- 0 and the genesis hash. signed is false when the anchor's signature
-- fails (verification reports a forged anchor).
create or replace function odl.audit_chain_base(tenant_id text, out seq bigint, out hash bytea, out signed boolean)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select
        coalesce(a.seq, 0),
        coalesce(a.hash, decode(repeat('00', 32), 'hex')),
        a.seq is null or odl.audit_hmac(a.key_id, odl.audit_anchor_message(a.tenant_id, a.seq, a.hash, a.event_time))
        is not distinct from a.signature
    from (select) as one
    left join lateral (
        select x.tenant_id, x.seq, x.hash, x.event_time, x.key_id, x.signature
        from odl.audit_anchors as x
        where x.tenant_id = audit_chain_base.tenant_id
        order by x.seq desc
        limit 1
    ) as a on true
$$;

alter function odl.audit_chain_base(text) owner to odl_ledger;
revoke all on function odl.audit_chain_base(text) from public;
comment on function odl.audit_chain_base(text) is
'Where a tenant''s chain starts after retention: the latest anchor''s seq and hash (0 and 32 zero bytes without '
'one) and whether its signature verifies; for audit_verify_chain() (odl_ledger)';

-- Anchors every chain at the end of one month of audit events, after
-- verifying the month, and records the month as retired. The caller
-- (odl.log_retention(), as a superuser) then detaches and drops the
-- partition in the same transaction.
create or replace function odl.audit_anchor_month(partition_name text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
set jit = off
as $$
declare
    genesis constant bytea := decode(repeat('00', 32), 'hex');
    part record;
    broken record;
    event_count bigint;
    anchor_count integer;
begin
    select
        c.oid,
        substring(pg_get_expr(c.relpartbound, c.oid) from $re$FROM \('([^']+)'\)$re$)::timestamptz as range_start,
        substring(pg_get_expr(c.relpartbound, c.oid) from $re$TO \('([^']+)'\)$re$)::timestamptz as range_end
    into part
    from pg_inherits as i
    inner join pg_class as c on i.inhrelid = c.oid
    where i.inhparent = 'odl.audit_events'::regclass
        and c.oid = to_regclass(audit_anchor_month.partition_name);
    if part.oid is null or part.range_start is null then
        raise exception using
            errcode = 'ODT02',
            message = 'not a monthly partition of odl.audit_events',
            detail = format('partition %s', quote_nullable(audit_anchor_month.partition_name));
    end if;
    if part.range_end > date_trunc('month', now() at time zone 'UTC') at time zone 'UTC'
        or exists (
            select
            from pg_inherits as i
            inner join pg_class as c on i.inhrelid = c.oid
            where i.inhparent = 'odl.audit_events'::regclass
                and substring(pg_get_expr(c.relpartbound, c.oid) from $re$FROM \('([^']+)'\)$re$)::timestamptz
                < part.range_start
        )
    then
        raise exception using
            errcode = 'ODT02',
            message = 'audit months are retired oldest first, and only complete ones',
            detail = format('partition %s, from %s to %s', audit_anchor_month.partition_name, part.range_start,
                part.range_end),
            hint = 'Retire the older partitions first; the current month is never retired.';
    end if;

    -- The month on its own: every hash from its columns, every link to the
    -- event before, the first event of each tenant to its anchor.
    select y.tenant_id, y.seq into broken
    from (
        select
            x.tenant_id,
            x.seq,
            not x.intact
            or x.prev_hash is distinct from coalesce(lag(x.hash) over w, b.hash, genesis)
            or x.seq is distinct from coalesce(lag(x.seq) over w, b.seq, 0) + 1 as bad
        from (
            select
                e.tenant_id::text as tenant_id, e.seq, e.created_at, e.prev_hash, e.hash,
                e.hash = sha256(e.prev_hash || timestamptz_send(e.created_at) || convert_to(concat_ws(
                    '|', e.seq, e.tenant_id, e.event_id, coalesce(e.actor_id::text, ''),
                    coalesce(e.project_id::text, ''), coalesce(e.doc_id::text, ''), e.action, e.payload
                ), 'UTF8')) as intact
            from odl.audit_events as e
            where e.created_at >= part.range_start and e.created_at < part.range_end
            offset 0
        ) as x
        left join (
            select distinct on (a.tenant_id) a.tenant_id, a.seq, a.hash
            from odl.audit_anchors as a
            order by a.tenant_id, a.seq desc
        ) as b on x.tenant_id = b.tenant_id
        window w as (partition by x.tenant_id order by x.seq, x.created_at)
    ) as y
    where y.bad
    order by y.tenant_id, y.seq
    limit 1;
    if broken.seq is not null then
        raise exception using
            errcode = 'ODT01',
            message = 'audit month does not verify',
            detail = format('partition %s, tenant_id %s, seq %s', audit_anchor_month.partition_name,
                broken.tenant_id, broken.seq),
            hint = 'Run odl_audit_verify() for the tenant; the month stays until its chain is explained.';
    end if;

    select count(*) into event_count
    from odl.audit_events as e
    where e.created_at >= part.range_start and e.created_at < part.range_end;

    -- One anchor per tenant whose chain has an event before the month's end
    -- that no anchor covers yet; its last such event's signature must hold.
    with last_events as (
        select distinct on (e.tenant_id)
            e.tenant_id::text as tenant_id, e.seq, e.hash, e.created_at, e.key_id, e.signature
        from odl.audit_events as e
        where e.created_at >= part.range_start and e.created_at < part.range_end
        order by e.tenant_id, e.seq desc
    ),

    checked as (
        select
            l.*,
            odl.audit_hmac(l.key_id, l.hash) is not distinct from l.signature as signed
        from last_events as l
    ),

    refused as (
        select c.tenant_id, c.seq from checked as c where not c.signed
    ),

    signed as (
        select
            c.tenant_id, c.seq, c.hash, c.created_at,
            s.key_id, s.signature
        from checked as c
        cross join lateral odl.audit_sign(odl.audit_anchor_message(c.tenant_id, c.seq, c.hash, c.created_at)) as s
        where c.signed and not exists (select from refused)
    ),

    inserted as (
        insert into odl.audit_anchors (tenant_id, seq, hash, event_time, month_end, key_id, signature)
        select s.tenant_id, s.seq, s.hash, s.created_at, part.range_end, s.key_id, s.signature
        from signed as s
        returning 1
    )

    select
        (select count(*) from inserted),
        (select r.tenant_id from refused as r order by r.tenant_id limit 1),
        (select r.seq from refused as r order by r.tenant_id limit 1)
    into anchor_count, broken.tenant_id, broken.seq;
    if broken.seq is not null then
        raise exception using
            errcode = 'ODT01',
            message = 'audit month does not verify',
            detail = format('partition %s, tenant_id %s, seq %s: signature fails', audit_anchor_month.partition_name,
                broken.tenant_id, broken.seq),
            hint = 'Run odl_audit_verify() for the tenant; the month stays until its chain is explained.';
    end if;

    insert into odl.audit_retired_partitions (partition_name, range_start, range_end, events, anchors)
    values (audit_anchor_month.partition_name, part.range_start, part.range_end, event_count, anchor_count);
    return jsonb_build_object(
        'partition', audit_anchor_month.partition_name,
        'range_start', part.range_start,
        'range_end', part.range_end,
        'events', event_count,
        'anchors', anchor_count
    );
end
$$;

alter function odl.audit_anchor_month(text) owner to odl_ledger;
revoke all on function odl.audit_anchor_month(text) from public;
comment on function odl.audit_anchor_month(text) is
'Verifies one complete month of audit events (the oldest partition), signs an anchor of each chain at its end and '
'records the month as retired; returns {partition, range_start, range_end, events, anchors}. ODT01 when the month '
'does not verify, ODT02 for anything but the oldest complete month. For odl.log_retention(), which then drops it';
