-- Appending to a tenant's audit chain. Writers of one tenant serialize on
-- the tenant's row of odl.audit_heads, from the moment they append until
-- they commit, so call audit_append() last in a transaction. Writers of
-- different tenants never touch the same row. Each transaction locks one
-- head row, so appends never deadlock with each other (a transaction that
-- audits for several tenants should take them in a fixed order).
--
-- The canonical event, hashed as hash = sha256(prev_hash || canonical):
--
--   8 bytes    created_at as PostgreSQL sends a timestamptz: big-endian
--              signed microseconds since 2000-01-01 00:00:00 UTC
--   then UTF-8 seq|tenant_id|event_id|actor_id|project_id|doc_id|action|payload
--              seq in decimal, absent ids as empty strings, payload the
--              exact text of the json column (jsonb's normalized output)
--
-- odl_audit_verify() recomputes the same expression set-wise; keep the two
-- in step (tests/python/test_audit.py recomputes both from exported rows).

-- The append path belongs to odl_ledger (change ledger_v2): odl_owner, under
-- which the document API's definer functions run, may call it but holds no
-- INSERT, UPDATE or DELETE on events or heads, so every event it adds is
-- numbered, chained and signed here. It calls nothing that odl_owner owns:
-- a function of odl_owner's would run with odl_ledger's rights. The ids it
-- is given are data; the caller vouches for them (audit_append() takes them
-- from the context, audit_append_as() checks the actor).

create or replace function odl.audit_event_id()
returns text
language plpgsql
volatile
security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    -- 48 bits of Unix milliseconds, then 80 random bits taken from the
    -- random bytes of two version-4 UUIDs.
    raw bytea := substr(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint), 3, 6)
        || substr(uuid_send(gen_random_uuid()), 1, 6) || substr(uuid_send(gen_random_uuid()), 1, 4);
    bits varbit := b'00' || ('x' || encode(raw, 'hex'))::bit(128);
    id text := '';
begin
    for i in 0..25 loop
        id := id || substr(alphabet, substring(bits from i * 5 + 1 for 5)::bit(5)::integer + 1, 1);
    end loop;
    return id;
end
$$;

alter function odl.audit_event_id() owner to odl_ledger;
revoke all on function odl.audit_event_id() from public;
comment on function odl.audit_event_id() is
'A new ULID for an audit event, made without odl_ulid(), which belongs to odl_owner';

create or replace function odl.audit_write(
    tenant_id text,
    actor_id text,
    action text,
    payload jsonb,
    project_id text,
    doc_id text
)
returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    new_event_id text := odl.audit_event_id();
    payload_text text := coalesce(payload, '{}')::text;
    signing record;
    head record;
begin
    -- One statement locks the head (waiting for the writer before), moves it
    -- on and hashes the event. After a wait it is evaluated again on the
    -- head that writer left, so created_at never runs backwards in a chain.
    -- The head row is made by the tenant's first event.
    loop
        update odl.audit_heads as h
        set (seq, created_at, prev_hash, hash) = (
            select
                n.seq,
                n.created_at,
                h.hash,
                sha256(h.hash || timestamptz_send(n.created_at) || convert_to(concat_ws(
                    '|', n.seq, audit_write.tenant_id, new_event_id, coalesce(audit_write.actor_id, ''),
                    coalesce(audit_write.project_id, ''), coalesce(audit_write.doc_id, ''), audit_write.action,
                    payload_text
                ), 'UTF8'))
            from (select h.seq + 1 as seq, clock_timestamp() as created_at) as n
        )
        where h.tenant_id = audit_write.tenant_id
        returning h.seq, h.created_at, h.prev_hash, h.hash into head;
        exit when found;
        insert into odl.audit_heads as h (tenant_id, seq, hash)
        values (audit_write.tenant_id, 0, decode(repeat('00', 32), 'hex'))
        on conflict on constraint audit_heads_pkey do nothing;
    end loop;

    select s.key_id, s.signature into signing from odl.audit_sign(head.hash) as s;

    insert into odl.audit_events (
        tenant_id, seq, created_at, event_id, project_id, doc_id, actor_id, action, payload,
        prev_hash, hash, key_id, signature
    )
    values (
        audit_write.tenant_id, head.seq, head.created_at, new_event_id, audit_write.project_id, audit_write.doc_id,
        audit_write.actor_id, audit_write.action, payload_text::json,
        head.prev_hash, head.hash, signing.key_id, signing.signature
    );

    perform pg_notify('odl_audit', format('{"tenant_id": "%s", "seq": %s}', audit_write.tenant_id, head.seq));
    return head.seq;
end
$$;

alter function odl.audit_write(text, text, text, jsonb, text, text) owner to odl_ledger;
revoke all on function odl.audit_write(text, text, text, jsonb, text, text) from public;
grant execute on function odl.audit_write(text, text, text, jsonb, text, text) to odl_owner;
comment on function odl.audit_write(text, text, text, jsonb, text, text) is
'The append path (odl_ledger): appends an event to the chain of tenant_id, numbering, chaining and signing it; '
'returns its seq. For odl_owner''s audit_append() and audit_append_as()';

create or replace function odl.audit_append(
    action text,
    payload jsonb,
    project_id text default null,
    doc_id text default null
)
returns bigint
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
begin
    return odl.audit_write(
        context.tenant_id, context.user_id, audit_append.action, audit_append.payload,
        audit_append.project_id, audit_append.doc_id
    );
end
$$;

revoke all on function odl.audit_append(text, jsonb, text, text) from public;
comment on function odl.audit_append(text, jsonb, text, text) is
'Audits an action of the context''s user in the context''s tenant (ODC01 without a context); returns its seq. '
'For the definer API functions; call it last, as it holds the tenant''s chain head until commit';

create or replace function odl.audit_append_as(
    tenant_id text,
    actor_id text,
    action text,
    payload jsonb,
    project_id text default null,
    doc_id text default null
)
returns bigint
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller record;
    caller_tenant text;
    caller_user text;
    appended bigint;
begin
    select c.tenant_id, c.user_id into caller from odl.current_context as c;
    caller_tenant := caller.tenant_id;
    caller_user := caller.user_id;
    if caller_tenant is distinct from audit_append_as.tenant_id then
        perform odl.set_session_context(audit_append_as.tenant_id, audit_append_as.actor_id);
        -- Acting as another tenant than the context's, which odl_set_context()
        -- checked: the region's check is made here instead (change
        -- regions_api, deployed after this one: without it, no residency).
        if to_regprocedure('odl.region_write_guard(text, text)') is not null then
            perform odl.region_write_guard(audit_append_as.tenant_id, audit_append_as.action);
        end if;
    end if;
    if audit_append_as.actor_id is not null and not exists (
        select from odl.users as u
        where u.tenant_id = audit_append_as.tenant_id and u.user_id = audit_append_as.actor_id
    ) then
        raise exception using
            errcode = 'ODC02',
            message = 'user does not belong to tenant',
            detail = format('tenant_id %s, user_id %s', audit_append_as.tenant_id, audit_append_as.actor_id);
    end if;
    appended := odl.audit_write(
        audit_append_as.tenant_id, audit_append_as.actor_id, audit_append_as.action, audit_append_as.payload,
        audit_append_as.project_id, audit_append_as.doc_id
    );
    if caller_tenant is distinct from audit_append_as.tenant_id then
        perform odl.set_session_context(caller_tenant, caller_user);
    end if;
    return appended;
end
$$;

revoke all on function odl.audit_append_as(text, text, text, jsonb, text, text) from public;
comment on function odl.audit_append_as(text, text, text, jsonb, text, text) is
'Audits an action in the given tenant, by actor_id (a user of it, or null; else ODC02), whatever the context; '
'returns its seq. '
'For definer functions that act without a tenant context, such as creating a tenant';

create or replace function odl.odl_audit_log(action text, payload jsonb)
returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    payload_text text;
begin
    -- Refused before the chain head is locked: a malformed action, and a
    -- payload over audit_payload_bytes (ODL04) or nesting_depth (ODL02),
    -- which would otherwise be kept, and hashed by every verification,
    -- forever.
    if action is null or 'app.' || action !~ '^[a-z][a-z0-9_.:-]{0,63}$' then
        raise exception using
            errcode = '23514',
            message = 'audit action must be a dotted lower-case name',
            detail = format('action %s', quote_nullable(action)),
            hint = 'Use at most 59 characters of a-z, 0-9, and _ . : -';
    end if;
    payload_text := payload::text;
    perform odl.check_json(payload, payload_text, 'audit_payload_bytes', 'the audit payload');
    -- Tenant, actor, project and document come from the context alone. The
    -- app. prefix keeps an application from recording what looks like an
    -- event of the platform itself.
    return odl.audit_write(context.tenant_id, context.user_id, 'app.' || odl_audit_log.action, payload, null, null);
end
$$;

revoke all on function odl.odl_audit_log(text, jsonb) from public;
grant execute on function odl.odl_audit_log(text, jsonb) to odl_app;
comment on function odl.odl_audit_log(text, jsonb) is
'Records an application event (e.g. a login or a tool call) as action app.<action> by the context''s user in '
'the context''s tenant; returns its seq. ODC01 without a context, 23514 for an action that is not a dotted '
'lower-case name, ODL04 for a payload over audit_payload_bytes, ODL02 for one nested deeper than nesting_depth';
