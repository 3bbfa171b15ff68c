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
--   head does not match the trusted digest
--                     the chain was rewritten consistently up to the
--                     digest's seq; named at the first event whose signature
--                     fails, else at the digest's seq
--
-- A superuser who rewrites a chain and re-signs it with the database's key
-- is found only by a trusted digest, at the digest's seq.

create or replace function odl.audit_first_bad_signature(tenant_id text, up_to bigint)
returns bigint
language sql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select min(e.seq)
    from odl.audit_events as e
    left join odl.audit_keys as k on e.key_id = k.key_id
    where e.tenant_id = audit_first_bad_signature.tenant_id
        and e.seq <= audit_first_bad_signature.up_to
        and e.signature is distinct from sha256(k.outer_key || sha256(k.inner_key || e.hash))
$$;

revoke all on function odl.audit_first_bad_signature(text, bigint) from public;
comment on function odl.audit_first_bad_signature(text, bigint) is
'The lowest seq up to up_to whose signature does not verify, or null; the current context must be the tenant''s';

create or replace function odl.audit_classify(tenant_id text, bad_seq bigint, out seq bigint, out reason text)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    genesis constant bytea := decode(repeat('00', 32), 'hex');
    before_seq bigint;
    r record;
begin
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
        ) as x
        window w as (order by x.seq, x.created_at)
    ) as y
    where y.seq = audit_classify.bad_seq
        and (
            not y.intact
            or y.prev_hash is distinct from coalesce(y.previous_hash, genesis)
            or y.seq is distinct from coalesce(y.previous_seq, 0) + 1
        )
    order by y.position
    limit 1;

    if r.seq = r.previous_seq then
        seq := r.seq;
        reason := 'forged event';
    elsif r.seq > coalesce(r.previous_seq, 0) + 1 then
        seq := coalesce(r.previous_seq, 0) + 1;
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

revoke all on function odl.audit_classify(text, bigint) from public;
comment on function odl.audit_classify(text, bigint) is
'Why the event at bad_seq breaks the chain, and the seq to blame; for odl_audit_verify()';

create or replace function odl.odl_audit_verify(tenant_id text, trusted_digest jsonb default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
set jit = off
set work_mem = '256MB'
as $$
declare
    genesis constant bytea := decode(repeat('00', 32), 'hex');
    caller_tenant text := odl.odl_current_tenant_id();
    caller_user text := odl.odl_current_user_id();
    checked bigint;
    last_seq bigint;
    first_bad bigint;
    last_event record;
    head record;
    digest_seq bigint;
    digest_event record;
    found_seq bigint;
    found_reason text;
    candidate_seq bigint;
    candidate_reason text;
begin
    perform odl.set_session_context(odl_audit_verify.tenant_id, null);
    if not exists (select from odl.tenants as t where t.tenant_id = odl_audit_verify.tenant_id) then
        raise exception using
            errcode = 'ODC03',
            message = 'tenant does not exist',
            detail = format('tenant_id %s', quote_nullable(odl_audit_verify.tenant_id));
    end if;
    if trusted_digest is not null and not (
        jsonb_typeof(trusted_digest) = 'object'
        and trusted_digest ->> 'tenant_id' is not distinct from odl_audit_verify.tenant_id
        and coalesce(trusted_digest ->> 'seq', '') ~ '^[0-9]{1,18}$'
        and coalesce(trusted_digest ->> 'hash', '') ~ '^[0-9a-f]{64}$'
        and coalesce(trusted_digest ->> 'key_id', '') ~ '^[0-9]{1,9}$'
        and coalesce(trusted_digest ->> 'signature', '') ~ '^[0-9a-f]{64}$'
    ) then
        raise exception using
            errcode = 'ODA02',
            message = 'invalid trusted digest',
            detail = format('tenant_id %s, digest %s', odl_audit_verify.tenant_id, trusted_digest),
            hint = 'Pass a digest of this tenant exactly as odl_audit_digest() returned it.';
    end if;

    -- The pass over every event. The inner query hashes each row before the
    -- sort, so that the sort carries four narrow columns.
    select count(*), max(y.seq), min(y.seq) filter (where y.bad)
    into checked, last_seq, first_bad
    from (
        select
            x.seq,
            not x.intact
            or x.prev_hash is distinct from coalesce(lag(x.hash) over w, genesis)
            or x.seq is distinct from coalesce(lag(x.seq) over w, 0) + 1 as bad
        from (
            select
                e.seq, e.created_at, e.prev_hash, e.hash,
                e.hash = sha256(e.prev_hash || timestamptz_send(e.created_at) || convert_to(concat_ws(
                    '|', e.seq, e.tenant_id, e.event_id, coalesce(e.actor_id::text, ''),
                    coalesce(e.project_id::text, ''), coalesce(e.doc_id::text, ''), e.action, e.payload
                ), 'UTF8')) as intact
            from odl.audit_events as e
            where e.tenant_id = odl_audit_verify.tenant_id
            offset 0
        ) as x
        window w as (order by x.seq, x.created_at)
    ) as y;
    last_seq := coalesce(last_seq, 0);

    -- Each check below may name a (seq, reason); the lowest seq wins, and
    -- on a tie the check made first.
    if first_bad is not null then
        select c.seq, c.reason into found_seq, found_reason
        from odl.audit_classify(odl_audit_verify.tenant_id, first_bad) as c;
    end if;

    select e.seq, e.hash, e.key_id, e.signature into last_event
    from odl.audit_events as e
    where e.tenant_id = odl_audit_verify.tenant_id
    order by e.seq desc, e.created_at desc
    limit 1;

    -- The head that writers keep must agree with the last event.
    select h.seq, h.hash into head from odl.audit_heads as h where h.tenant_id = odl_audit_verify.tenant_id;
    candidate_seq := null;
    if coalesce(head.seq, 0) > last_seq then
        candidate_seq := last_seq + 1;
        candidate_reason := 'event missing';
    elsif coalesce(head.seq, 0) < last_seq then
        candidate_seq := coalesce(head.seq, 0) + 1;
        candidate_reason := 'forged event';
    elsif head.hash is distinct from last_event.hash then
        candidate_seq := coalesce(odl.audit_first_bad_signature(odl_audit_verify.tenant_id, last_seq), last_seq);
        candidate_reason := 'forged event';
    end if;
    if candidate_seq is not null and (found_seq is null or candidate_seq < found_seq) then
        found_seq := candidate_seq;
        found_reason := candidate_reason;
    end if;

    candidate_seq := null;
    if trusted_digest is not null then
        digest_seq := (trusted_digest ->> 'seq')::bigint;
        select e.seq, e.hash into digest_event
        from odl.audit_events as e
        where e.tenant_id = odl_audit_verify.tenant_id and e.seq = digest_seq
        order by e.created_at
        limit 1;
        candidate_reason := 'head does not match the trusted digest';
        if odl.audit_hmac((trusted_digest ->> 'key_id')::integer, odl.audit_digest_message(trusted_digest))
            is distinct from decode(trusted_digest ->> 'signature', 'hex')
        then
            -- Not a digest that this database's keys signed: the keys were
            -- changed, or the digest was.
            candidate_seq := digest_seq;
        elsif digest_seq > last_seq then
            candidate_seq := last_seq + 1;
            candidate_reason := 'event missing';
        elsif digest_seq > 0 and digest_event.hash is distinct from decode(trusted_digest ->> 'hash', 'hex') then
            candidate_seq := coalesce(odl.audit_first_bad_signature(odl_audit_verify.tenant_id, digest_seq), digest_seq);
        end if;
    end if;
    if candidate_seq is not null and (found_seq is null or candidate_seq < found_seq) then
        found_seq := candidate_seq;
        found_reason := candidate_reason;
    end if;

    -- An event appended by someone without the key.
    candidate_seq := null;
    if last_event.seq is not null
        and last_event.signature is distinct from odl.audit_hmac(last_event.key_id, last_event.hash)
    then
        candidate_seq := odl.audit_first_bad_signature(odl_audit_verify.tenant_id, last_event.seq);
        candidate_reason := 'forged event';
    end if;
    if candidate_seq is not null and (found_seq is null or candidate_seq < found_seq) then
        found_seq := candidate_seq;
        found_reason := candidate_reason;
    end if;

    perform odl.set_session_context(caller_tenant, caller_user);
    return jsonb_build_object(
        'ok', found_reason is null,
        'checked', checked,
        'first_broken_seq', found_seq,
        'reason', found_reason
    );
end
$$;

revoke all on function odl.odl_audit_verify(text, jsonb) from public;
grant execute on function odl.odl_audit_verify(text, jsonb) to odl_admin;
comment on function odl.odl_audit_verify(text, jsonb) is
'Recomputes a tenant''s audit chain: {"ok", "checked", "first_broken_seq", "reason"} with reason one of payload '
'changed, event missing, order changed, forged event, head does not match the trusted digest (odl_admin; ODC03, '
'ODA02). With a digest from odl_audit_digest() it also finds a removed tail and a consistently rewritten chain';
