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
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    new_event_id text := odl.odl_ulid();
    payload_text text := coalesce(payload, '{}')::text;
    signing record;
    head record;
begin
    select k.key_id, k.inner_key, k.outer_key into signing
    from odl.audit_keys as k
    where k.retired_at is null;

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

    insert into odl.audit_events (
        tenant_id, seq, created_at, event_id, project_id, doc_id, actor_id, action, payload,
        prev_hash, hash, key_id, signature
    )
    values (
        audit_write.tenant_id, head.seq, head.created_at, new_event_id, audit_write.project_id, audit_write.doc_id,
        audit_write.actor_id, audit_write.action, payload_text::json,
        head.prev_hash, head.hash, signing.key_id, sha256(signing.outer_key || sha256(signing.inner_key || head.hash))
    );

    perform pg_notify('odl_audit', format('{"tenant_id": "%s", "seq": %s}', audit_write.tenant_id, head.seq));
    return head.seq;
end
$$;

revoke all on function odl.audit_write(text, text, text, jsonb, text, text) from public;
comment on function odl.audit_write(text, text, text, jsonb, text, text) is
'Appends an event to the chain of tenant_id, which must be the current context''s tenant; '
'returns its seq. Use audit_append() or audit_append_as()';

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
begin
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
'lower-case name';
