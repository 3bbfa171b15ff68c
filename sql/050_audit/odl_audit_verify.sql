-- Verification recomputes a tenant's chain in one set-based pass: each
-- event's hash from its columns (the canonical form of audit_append.sql,
-- written out again here so that the planner evaluates it inline), and each
-- link to the event before in seq order. Only when something is wrong does
-- it look closer, to name the first broken seq and the reason:
--
--   payload changed   the event's columns no longer give its hash
--   event missing     a seq is absent (also the tail, against odl.audit_heads
--                     or a trusted digest)
--   order changed     the event sits at another seq than the one it was
--                     chained at
--   forged event      an event that the chain never held: a second event
--                     with one seq, one wedged in, one rehashed in place,
--                     one beyond the head, or one whose signature fails
--   head missing      the tenant has events but no chain head
--   partition missing a partition of odl.audit_events that was made (and
--                     recorded in odl.audit_partitions) is gone; named at
--                     the seq after the tenant's last event before it
--   forged anchor     the latest retention anchor's signature fails (named
--                     at its seq)
--   head does not match the trusted digest
--                     the chain was rewritten consistently up to the
--                     digest's seq; named at the first event whose signature
--                     fails, else at the first seq after the latest trusted
--                     digest that still matches
--
-- The trusted digests: those handed in (one, or an array of them, read
-- from the sink outside the database) and the latest one the ledger issued
-- for export (odl.audit_digests). Only a holder of the signing key (a
-- superuser) can rewrite a chain that passes its signature checks; a trusted
-- digest finds that, to within the digests exported.
--
-- After retention (sql/120_retention) the chain starts at the latest
-- anchor instead of the genesis: its seq and hash stand for the events
-- dropped, and the months retired are not missing partitions. A trusted
-- digest older than the anchor can no longer be checked and is passed.
--
-- The work is done by audit_verify_chain(), which belongs to odl_ledger and
-- touches nothing odl_owner owns; odl_audit_verify() adds the tenant check.

create or replace function odl.audit_first_bad_signature(tenant_id text, up_to bigint)
returns bigint
language sql
stable
security invoker
set search_path = pg_catalog, pg_temp
as $$
    select min(e.seq)
    from odl.audit_events as e
    where e.tenant_id = audit_first_bad_signature.tenant_id
        and e.seq <= audit_first_bad_signature.up_to
        and e.signature is distinct from odl.audit_hmac(e.key_id, e.hash)
$$;

alter function odl.audit_first_bad_signature(text, bigint) owner to odl_ledger;
revoke all on function odl.audit_first_bad_signature(text, bigint) from public;
comment on function odl.audit_first_bad_signature(text, bigint) is
'The lowest seq up to up_to whose signature does not verify, or null; for audit_verify_chain()';

create or replace function odl.audit_classify(tenant_id text, bad_seq bigint, out seq bigint, out reason text)
language plpgsql
stable
security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    base record;
    genesis bytea;
    before_seq bigint;
    r record;
begin
    select b.seq, b.hash into base from odl.audit_chain_base(audit_classify.tenant_id) as b;
    genesis := base.hash;
    select max(e.seq) into before_seq
    from odl.audit_events as e
    where e.tenant_id = audit_classify.tenant_id and e.seq < audit_classify.bad_seq;

    -- The first broken row of the range, with what the row before it says.
    select
        y.seq, y.intact, y.previous_seq, y.previous_prev_hash, y.prev_hash,
        y.prev_hash = coalesce(y.previous_hash, genesis) as linked
    into r
    from (
        select
            x.*,
            lag(x.seq) over w as previous_seq,
            lag(x.hash) over w as previous_hash,
            lag(x.prev_hash) over w as previous_prev_hash,
            row_number() over w as position
        from (
            select
                e.seq, e.created_at, e.prev_hash, e.hash,
                e.hash = sha256(e.prev_hash || timestamptz_send(e.created_at) || convert_to(concat_ws(
                    '|', e.seq, e.tenant_id, e.event_id, coalesce(e.actor_id::text, ''),
                    coalesce(e.project_id::text, ''), coalesce(e.doc_id::text, ''), e.action, e.payload
                ), 'UTF8')) as intact
            from odl.audit_events as e
            where e.tenant_id = audit_classify.tenant_id
                and e.seq between coalesce(before_seq, audit_classify.bad_seq) and audit_classify.bad_seq
                and e.seq > base.seq
        ) as x
        window w as (order by x.seq, x.created_at)
    ) as y
    where y.seq = audit_classify.bad_seq
        and (
            not y.intact
            or y.prev_hash is distinct from coalesce(y.previous_hash, genesis)
            or y.seq is distinct from coalesce(y.previous_seq, base.seq) + 1
        )
    order by y.position
    limit 1;

    if r.seq = r.previous_seq then
        seq := r.seq;
        reason := 'forged event';
    elsif r.seq > coalesce(r.previous_seq, base.seq) + 1 then
        seq := coalesce(r.previous_seq, base.seq) + 1;
        reason := 'event missing';
    elsif r.intact then
        -- The row is sound but its predecessor is not the one it was chained
        -- to: the predecessor was replaced and rehashed (or, before seq 1,
        -- the row itself claims a predecessor that never was).
        seq := coalesce(r.previous_seq, r.seq);
        reason := 'forged event';
    elsif r.linked then
        seq := r.seq;
        reason := 'payload changed';
    elsif r.prev_hash = r.previous_prev_hash then
        -- Two rows chained to the same predecessor: the earlier was wedged in.
        seq := r.previous_seq;
        reason := 'forged event';
    elsif exists (
        select from odl.audit_events as e
        where e.tenant_id = audit_classify.tenant_id and e.hash = r.prev_hash
    ) then
        seq := r.seq;
        reason := 'order changed';
    else
        seq := r.seq;
        reason := 'payload changed';
    end if;
end
$$;

alter function odl.audit_classify(text, bigint) owner to odl_ledger;
revoke all on function odl.audit_classify(text, bigint) from public;
comment on function odl.audit_classify(text, bigint) is
'Why the event at bad_seq breaks the chain, and the seq to blame; for audit_verify_chain()';


-- Does the chain hold the event a digest names, with the digest's hash, and
-- did this database's keys sign the digest?
create or replace function odl.audit_digest_holds(tenant_id text, digest jsonb)
returns boolean
language sql
stable
security invoker
set search_path = pg_catalog, pg_temp
as $$
    select
        odl.audit_hmac((digest ->> 'key_id')::integer, odl.audit_digest_message(digest))
        is not distinct from decode(digest ->> 'signature', 'hex')
        and (
            (digest ->> 'seq')::bigint = 0
            -- Older than the latest anchor: its events were retired.
            or (digest ->> 'seq')::bigint < (odl.audit_chain_base(audit_digest_holds.tenant_id)).seq
            or exists (
                select from odl.audit_anchors as a
                where a.tenant_id = audit_digest_holds.tenant_id
                    and a.seq = (digest ->> 'seq')::bigint
                    and a.hash = decode(digest ->> 'hash', 'hex')
            )
            or exists (
                select from odl.audit_events as e
                where e.tenant_id = audit_digest_holds.tenant_id
                    and e.seq = (digest ->> 'seq')::bigint
                    and e.hash = decode(digest ->> 'hash', 'hex')
            )
        )
$$;

alter function odl.audit_digest_holds(text, jsonb) owner to odl_ledger;
revoke all on function odl.audit_digest_holds(text, jsonb) from public;
comment on function odl.audit_digest_holds(text, jsonb) is
'True when the digest''s signature verifies and the tenant''s chain holds its seq with its hash; '
'for audit_verify_chain()';

create or replace function odl.audit_verify_chain(tenant_id text, trusted_digest jsonb default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
set jit = off
set work_mem = '256MB'
as $$
declare
    genesis constant bytea := decode(repeat('00', 32), 'hex');
    checked bigint;
    last_seq bigint;
    first_bad bigint;
    last_event record;
    head record;
    trusted jsonb;
    digest jsonb;
    digest_seq bigint;
    matched_below bigint;
    missing record;
    found_seq bigint;
    found_reason text;
    candidate_seq bigint;
    candidate_reason text;
    base record;
begin
    if audit_verify_chain.tenant_id is null then
        raise exception using
            errcode = 'ODC03',
            message = 'tenant does not exist',
            detail = 'tenant_id NULL';
    end if;
    trusted := case jsonb_typeof(trusted_digest)
        when 'array' then trusted_digest
        when 'object' then jsonb_build_array(trusted_digest)
        else coalesce(trusted_digest, '[]')
    end;
    if jsonb_typeof(trusted) <> 'array' or exists (
        select from jsonb_array_elements(trusted) as t (d)
        where not (
            jsonb_typeof(t.d) = 'object'
            and t.d ->> 'tenant_id' is not distinct from audit_verify_chain.tenant_id
            and coalesce(t.d ->> 'seq', '') ~ '^[0-9]{1,18}$'
            and coalesce(t.d ->> 'hash', '') ~ '^[0-9a-f]{64}$'
            and coalesce(t.d ->> 'key_id', '') ~ '^[0-9]{1,9}$'
            and coalesce(t.d ->> 'signature', '') ~ '^[0-9a-f]{64}$'
        )
    ) then
        raise exception using
            errcode = 'ODA02',
            message = 'invalid trusted digest',
            detail = format('tenant_id %s, digest %s', audit_verify_chain.tenant_id, trusted_digest),
            hint = 'Pass a digest of this tenant exactly as odl_audit_digest() returned it, or an array of them.';
    end if;
    -- The latest digest issued for export is trusted too.
    trusted := trusted || coalesce(
        (
            select jsonb_build_array(d.digest)
            from odl.audit_digests as d
            where d.tenant_id = audit_verify_chain.tenant_id
            order by d.issued_at desc, d.seq desc
            limit 1
        ),
        '[]'
    );

    select b.seq, b.hash, b.signed into base from odl.audit_chain_base(audit_verify_chain.tenant_id) as b;

    -- The pass over every event. The inner query hashes each row before the
    -- sort, so that the sort carries four narrow columns.
    select count(*), max(y.seq), min(y.seq) filter (where y.bad)
    into checked, last_seq, first_bad
    from (
        select
            x.seq,
            not x.intact
            or x.prev_hash is distinct from coalesce(lag(x.hash) over w, base.hash)
            or x.seq is distinct from coalesce(lag(x.seq) over w, base.seq) + 1 as bad
        from (
            select
                e.seq, e.created_at, e.prev_hash, e.hash,
                e.hash = sha256(e.prev_hash || timestamptz_send(e.created_at) || convert_to(concat_ws(
                    '|', e.seq, e.tenant_id, e.event_id, coalesce(e.actor_id::text, ''),
                    coalesce(e.project_id::text, ''), coalesce(e.doc_id::text, ''), e.action, e.payload
                ), 'UTF8')) as intact
            from odl.audit_events as e
            where e.tenant_id = audit_verify_chain.tenant_id and e.seq > base.seq
            offset 0
        ) as x
        window w as (order by x.seq, x.created_at)
    ) as y;
    last_seq := coalesce(last_seq, base.seq);

    -- Each check below may name a (seq, reason); the lowest seq wins, and
    -- on a tie the check made first.
    if first_bad is not null then
        select c.seq, c.reason into found_seq, found_reason
        from odl.audit_classify(audit_verify_chain.tenant_id, first_bad) as c;
    end if;

    -- A partition that was made and is gone: the tenant's events from the
    -- first one after the partition's start may have been in it.
    for missing in
        select p.partition_name, p.range_start, p.range_end
        from odl.audit_partitions as p
        where not exists (
            select from odl.audit_retired_partitions as r where r.partition_name = p.partition_name
        )
        and not exists (
            select from pg_inherits as i
            where i.inhparent = 'odl.audit_events'::regclass and i.inhrelid = to_regclass(p.partition_name)
        )
    loop
        candidate_seq := case
            when missing.range_start is null then last_seq + 1
            when exists (
                select from odl.audit_events as e
                where e.tenant_id = audit_verify_chain.tenant_id
                    and e.seq = base.seq + 1
                    and e.created_at >= missing.range_end
            ) then null
            else coalesce((
                select max(e.seq) from odl.audit_events as e
                where e.tenant_id = audit_verify_chain.tenant_id
                    and e.seq > base.seq
                    and e.created_at < missing.range_start
            ), base.seq) + 1
        end;
        if candidate_seq is not null and (found_seq is null or candidate_seq < found_seq) then
            found_seq := candidate_seq;
            found_reason := 'partition missing';
        end if;
    end loop;

    if not base.signed and (found_seq is null or base.seq < found_seq) then
        found_seq := base.seq;
        found_reason := 'forged anchor';
    end if;

    select e.seq, e.hash, e.key_id, e.signature into last_event
    from odl.audit_events as e
    where e.tenant_id = audit_verify_chain.tenant_id and e.seq > base.seq
    order by e.seq desc, e.created_at desc
    limit 1;

    -- The head that writers keep must exist and agree with the last event.
    select h.seq, h.hash into head from odl.audit_heads as h where h.tenant_id = audit_verify_chain.tenant_id;
    candidate_seq := null;
    if head.seq is null and last_seq > 0 then
        candidate_seq := last_seq + 1;
        candidate_reason := 'head missing';
    elsif coalesce(head.seq, 0) > last_seq then
        candidate_seq := last_seq + 1;
        candidate_reason := 'event missing';
    elsif coalesce(head.seq, 0) < last_seq then
        candidate_seq := coalesce(head.seq, 0) + 1;
        candidate_reason := 'forged event';
    elsif head.seq is not null and head.hash is distinct from coalesce(last_event.hash, base.hash) then
        candidate_seq := coalesce(odl.audit_first_bad_signature(audit_verify_chain.tenant_id, last_seq), last_seq);
        candidate_reason := 'forged event';
    end if;
    if candidate_seq is not null and (found_seq is null or candidate_seq < found_seq) then
        found_seq := candidate_seq;
        found_reason := candidate_reason;
    end if;

    -- Each trusted digest: signed by this database's keys, no further than
    -- the chain, and the chain still holds its hash at its seq.
    for digest in select t.d from jsonb_array_elements(trusted) as t (d) loop
        digest_seq := (digest ->> 'seq')::bigint;
        candidate_seq := null;
        candidate_reason := 'head does not match the trusted digest';
        if odl.audit_hmac((digest ->> 'key_id')::integer, odl.audit_digest_message(digest))
            is distinct from decode(digest ->> 'signature', 'hex')
        then
            -- Not a digest that this database's keys signed: the keys were
            -- changed, or the digest was.
            candidate_seq := digest_seq;
        elsif digest_seq > last_seq then
            candidate_seq := last_seq + 1;
            candidate_reason := 'event missing';
        elsif not odl.audit_digest_holds(audit_verify_chain.tenant_id, digest) then
            -- Rewritten at or before digest_seq. An event whose signature
            -- fails is the first rewritten one; if every signature holds,
            -- the key signed the rewrite, and the rewrite began after the
            -- latest trusted digest below this one that still holds.
            select max(t.seq) into matched_below
            from (
                select (g.d ->> 'seq')::bigint as seq, g.d
                from jsonb_array_elements(trusted) as g (d)
                union all
                select i.seq, i.digest from odl.audit_digests as i where i.tenant_id = audit_verify_chain.tenant_id
            ) as t
            where t.seq < digest_seq and odl.audit_digest_holds(audit_verify_chain.tenant_id, t.d);
            candidate_seq := coalesce(
                odl.audit_first_bad_signature(audit_verify_chain.tenant_id, digest_seq),
                coalesce(matched_below, 0) + 1
            );
        end if;
        if candidate_seq is not null and (found_seq is null or candidate_seq < found_seq) then
            found_seq := candidate_seq;
            found_reason := candidate_reason;
        end if;
    end loop;

    -- An event appended by someone without the key.
    candidate_seq := null;
    if last_event.seq is not null
        and last_event.signature is distinct from odl.audit_hmac(last_event.key_id, last_event.hash)
    then
        candidate_seq := odl.audit_first_bad_signature(audit_verify_chain.tenant_id, last_event.seq);
        candidate_reason := 'forged event';
    end if;
    if candidate_seq is not null and (found_seq is null or candidate_seq < found_seq) then
        found_seq := candidate_seq;
        found_reason := candidate_reason;
    end if;

    return jsonb_build_object(
        'ok', found_reason is null,
        'checked', checked,
        'first_broken_seq', found_seq,
        'reason', found_reason
    );
end
$$;

alter function odl.audit_verify_chain(text, jsonb) owner to odl_ledger;
revoke all on function odl.audit_verify_chain(text, jsonb) from public;
grant execute on function odl.audit_verify_chain(text, jsonb) to odl_owner, odl_admin;
comment on function odl.audit_verify_chain(text, jsonb) is
'Recomputes a tenant''s audit chain as odl_audit_verify() does, without the tenant check, in code odl_owner '
'cannot replace (odl_ledger; odl_admin, for the export job; ODC03 for a null tenant, ODA02)';

create or replace function odl.odl_audit_verify(tenant_id text, trusted_digest jsonb default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    perform odl.require_tenant(odl_audit_verify.tenant_id);
    return odl.audit_verify_chain(odl_audit_verify.tenant_id, odl_audit_verify.trusted_digest);
end
$$;

revoke all on function odl.odl_audit_verify(text, jsonb) from public;
grant execute on function odl.odl_audit_verify(text, jsonb) to odl_admin;
comment on function odl.odl_audit_verify(text, jsonb) is
'Recomputes a tenant''s audit chain: {"ok", "checked", "first_broken_seq", "reason"} with reason one of payload '
'changed, event missing, order changed, forged event, head missing, partition missing, forged anchor, head does not '
'match the trusted digest (odl_admin; ODC03, ODA02). The chain starts at the latest retention anchor. It checks '
'the chain against the latest digest issued for export and against trusted_digest: one digest from '
'odl_audit_digest(), or an array of them, read from outside the database';
