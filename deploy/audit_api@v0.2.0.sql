-- Frozen by tools/srcguard rework: audit_api as released in @v0.2.0.
-- Deploy odl-db:audit_api to pg
-- Reworked after @v0.1.0: Hostile input: limits, ledger, visibility
-- requires: audit

begin;

-- sql/050_audit/keys.sql as released in @v0.2.0
-- Signing keys of the audit ledger. HMAC-SHA-256 (RFC 2104) is computed
-- with the built-in sha256() from the two stored pads, so that no extension
-- (pgcrypto) is needed and any HMAC library recomputes it from K, which is
-- inner_key XOR 0x36 repeated.
--
-- The keys belong to odl_signer (change ledger_v2), a role nobody is a
-- member of; so do these functions, which alone read them. Only odl_ledger,
-- whose append, digest and verify functions sign and check, may call the
-- signing functions: a role that could sign any message could forge an
-- event or a digest as well as one that read the key.
--
-- The functions of the ledger pin search_path to pg_catalog and pg_temp
-- and name odl objects in full: schema odl belongs to odl_owner, who must
-- not be able to slip an operator or a function into what they run.

create or replace function odl.odl_audit_rotate_key()
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    -- 64 bytes from four version-4 UUIDs: 488 bits of pg_strong_random().
    k bytea := decode(
        replace(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text
            || gen_random_uuid()::text, '-', ''),
        'hex'
    );
    inner_pad bytea := k;
    outer_pad bytea := k;
    new_key integer;
begin
    for i in 0..63 loop
        inner_pad := set_byte(inner_pad, i, get_byte(k, i) # 54);
        outer_pad := set_byte(outer_pad, i, get_byte(k, i) # 92);
    end loop;
    update odl.audit_keys as a set retired_at = now() where a.retired_at is null;
    insert into odl.audit_keys (inner_key, outer_key) values (inner_pad, outer_pad)
    returning key_id into new_key;
    return new_key;
end
$$;

alter function odl.odl_audit_rotate_key() owner to odl_signer;
revoke all on function odl.odl_audit_rotate_key() from public;
grant execute on function odl.odl_audit_rotate_key() to odl_admin;
comment on function odl.odl_audit_rotate_key() is
'Retires the current audit signing key and makes a new one; returns its key_id (odl_admin). '
'Retired keys stay, so older signatures and digests still verify';

create or replace function odl.audit_hmac(key_id integer, message bytea)
returns bytea
language sql
stable
strict
security definer
set search_path = pg_catalog, pg_temp
as $$
    select sha256(k.outer_key || sha256(k.inner_key || message))
    from odl.audit_keys as k
    where k.key_id = audit_hmac.key_id
$$;

alter function odl.audit_hmac(integer, bytea) owner to odl_signer;
revoke all on function odl.audit_hmac(integer, bytea) from public;
grant execute on function odl.audit_hmac(integer, bytea) to odl_ledger;
comment on function odl.audit_hmac(integer, bytea) is
'HMAC-SHA-256 of message under audit key key_id; null for an unknown key (odl_ledger only)';

create or replace function odl.audit_sign(message bytea, out key_id integer, out signature bytea)
language sql
stable
strict
security definer
set search_path = pg_catalog, pg_temp
as $$
    select k.key_id, sha256(k.outer_key || sha256(k.inner_key || message))
    from odl.audit_keys as k
    where k.retired_at is null
$$;

alter function odl.audit_sign(bytea) owner to odl_signer;
revoke all on function odl.audit_sign(bytea) from public;
grant execute on function odl.audit_sign(bytea) to odl_ledger;
comment on function odl.audit_sign(bytea) is
'The current audit key''s key_id and its HMAC-SHA-256 of message (odl_ledger only)';

-- The first key, made once.
do $$
begin
    if not exists (select from odl.audit_keys as k where k.retired_at is null) then
        perform odl.odl_audit_rotate_key();
    end if;
end
$$;
-- sql/050_audit/append_only.sql as released in @v0.2.0
-- Audit events are never updated, deleted or truncated: their owner,
-- odl_ledger, holds no such privilege (changes audit and ledger_v2), and
-- these triggers refuse it for anyone who gets one back, superusers
-- included. A superuser can still switch triggers off
-- (session_replication_role = replica, or ALTER TABLE ... DISABLE TRIGGER);
-- odl_audit_verify() then finds what was changed.
--
-- pg_partman makes the monthly partitions. Row triggers of the parent reach
-- them by themselves; statement triggers (TRUNCATE above all), ownership,
-- privileges and comments do not, and audit_protect_partitions() adds them.
-- It also records each partition in odl.audit_partitions, so that a
-- partition dropped later is missed by verification.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODA01', 'append_only', 'Audit events are never updated, deleted or truncated'),
('ODA02', 'invalid_digest', 'The trusted digest is malformed or belongs to another tenant')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.audit_refuse_change()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception using
        errcode = 'ODA01',
        message = 'audit events are append-only',
        detail = format('%s on %s.%s refused', tg_op, tg_table_schema, tg_table_name),
        hint = 'Record a new event instead.';
end
$$;

alter function odl.audit_refuse_change() owner to odl_ledger;
revoke all on function odl.audit_refuse_change() from public;
comment on function odl.audit_refuse_change() is
'Trigger: refuses UPDATE, DELETE and TRUNCATE of audit events with ODA01';

create or replace trigger audit_events_append_only_row
before update or delete on odl.audit_events
for each row execute function odl.audit_refuse_change();

create or replace trigger audit_events_append_only
before update or delete or truncate on odl.audit_events
for each statement execute function odl.audit_refuse_change();

create or replace function odl.audit_protect_partitions()
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    part record;
    inherited record;
    changed integer := 0;
begin
    for part in
        select
            c.oid, c.oid::regclass::text as name, c.relowner,
            pg_get_expr(c.relpartbound, c.oid) as bound
        from pg_inherits as i
        inner join pg_class as c on i.inhrelid = c.oid
        where i.inhparent = 'odl.audit_events'::regclass
    loop
        -- Each step only when needed: most take locks that stall writers.
        if part.relowner <> 'odl_ledger'::regrole then
            execute format('alter table %s owner to odl_ledger', part.name);
        end if;
        if has_table_privilege('odl_ledger', part.oid, 'UPDATE, DELETE, TRUNCATE')
            or exists (select from aclexplode((select c.relacl from pg_class as c where c.oid = part.oid)) as a
                where a.grantee <> 'odl_ledger'::regrole)
        then
            execute format('revoke all on %s from public, odl_owner, odl_app, odl_admin, odl_analyst', part.name);
            execute format('revoke update, delete, truncate on %s from odl_ledger', part.name);
        end if;
        if not exists (
            select from pg_trigger as t where t.tgrelid = part.oid and t.tgname = 'audit_events_append_only'
        ) then
            execute format(
                'create trigger audit_events_append_only before update or delete or truncate on %s'
                ' for each statement execute function odl.audit_refuse_change()',
                part.name
            );
        end if;
        if obj_description(part.oid, 'pg_class') is null then
            execute format(
                'comment on table %s is %L', part.name,
                'Monthly partition of odl.audit_events, made by pg_partman; read and written only through the parent'
            );
        end if;
        -- Inherited CHECK constraints carry the parent's comment.
        for inherited in
            select con.conname, obj_description(parent_con.oid, 'pg_constraint') as note
            from pg_constraint as con
            inner join pg_constraint as parent_con
                on parent_con.conrelid = 'odl.audit_events'::regclass and con.conname = parent_con.conname
            where con.conrelid = part.oid
                and con.contype = 'c'
                and obj_description(con.oid, 'pg_constraint') is null
        loop
            execute format('comment on constraint %I on %s is %L', inherited.conname, part.name, inherited.note);
        end loop;
        insert into odl.audit_partitions (partition_name, range_start, range_end)
        values (
            part.name,
            substring(part.bound from $re$FROM \('([^']+)'\)$re$)::timestamptz,
            substring(part.bound from $re$TO \('([^']+)'\)$re$)::timestamptz
        )
        on conflict (partition_name) do nothing;
        changed := changed + 1;
    end loop;
    return changed;
end
$$;

alter function odl.audit_protect_partitions() owner to odl_ledger;
revoke all on function odl.audit_protect_partitions() from public;
comment on function odl.audit_protect_partitions() is
'Gives every partition of odl.audit_events to odl_ledger without UPDATE, DELETE or TRUNCATE, '
'adds the statement trigger that refuses them, comments it and records it in odl.audit_partitions; '
'returns the number of partitions';

create or replace procedure odl.audit_maintenance()
language plpgsql
security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    partman_schema text;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_extension as e
    where e.extname = 'pg_partman';
    execute format('select %I.run_maintenance(p_parent_table := %L)', partman_schema, 'odl.audit_events');
    perform odl.audit_protect_partitions();
end
$$;

alter procedure odl.audit_maintenance() owner to odl_ledger;
revoke all on procedure odl.audit_maintenance() from public;
comment on procedure odl.audit_maintenance() is -- noqa: LT01
'Makes the next months'' audit partitions (pg_partman), protects and records them; '
'run it daily as a superuser, e.g. from cron';

call odl.audit_maintenance();
-- sql/050_audit/audit_append.sql as released in @v0.2.0
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
-- sql/050_audit/odl_audit_digest.sql as released in @v0.2.0
-- A signed statement of a chain's head, for operators to keep outside the
-- database. The signature is HMAC-SHA-256, under the current audit key, of
-- the UTF-8 text
--
--   odl-audit-digest-v1|tenant_id|seq|hash|time
--
-- with hash in lower-case hex and time as in the digest (empty for an empty
-- chain). Given back to odl_audit_verify(), it detects a removed tail and a
-- rewritten chain, which no check inside the database can.
--
-- Export on a schedule: a job (scripts/export-digests, run from cron as a
-- member of odl_admin) calls odl_audit_export_digests(), which signs the
-- head of every chain, records each digest in odl.audit_digests, and
-- returns them; the job appends them to storage that the database's
-- superusers cannot rewrite (a WORM bucket, another host's append-only
-- file). odl_audit_verify() checks every chain against the latest digest
-- recorded, and against the digests it is handed, read from that storage.

create or replace function odl.audit_digest_message(digest jsonb)
returns bytea
language sql
immutable
strict
security invoker
set search_path = pg_catalog, pg_temp
as $$
    select convert_to(
        concat_ws(
            '|', 'odl-audit-digest-v1', digest ->> 'tenant_id', digest ->> 'seq', digest ->> 'hash',
            coalesce(digest ->> 'time', '')
        ),
        'UTF8'
    )
$$;

alter function odl.audit_digest_message(jsonb) owner to odl_ledger;
revoke all on function odl.audit_digest_message(jsonb) from public;
comment on function odl.audit_digest_message(jsonb) is
'The bytes a digest''s signature covers: odl-audit-digest-v1|tenant_id|seq|hash|time';

create or replace function odl.audit_head_digest(tenant_id text)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    digest jsonb;
    signing record;
begin
    select jsonb_build_object(
        'tenant_id', audit_head_digest.tenant_id,
        'seq', coalesce(h.seq, 0),
        'hash', encode(coalesce(h.hash, decode(repeat('00', 32), 'hex')), 'hex'),
        'time', to_char(h.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    )
    into digest
    from (select) as one
    left join odl.audit_heads as h on h.tenant_id = audit_head_digest.tenant_id;

    select s.key_id, s.signature into signing from odl.audit_sign(odl.audit_digest_message(digest)) as s;
    return digest || jsonb_build_object('key_id', signing.key_id, 'signature', encode(signing.signature, 'hex'));
end
$$;

alter function odl.audit_head_digest(text) owner to odl_ledger;
revoke all on function odl.audit_head_digest(text) from public;
grant execute on function odl.audit_head_digest(text) to odl_owner;
comment on function odl.audit_head_digest(text) is
'The signed digest of a tenant''s chain head (odl_ledger; for odl_audit_digest(), which checks the tenant)';

-- Raises ODC03 unless the tenant exists. Its row shows only under its own
-- context, so the check switches to it and gives the caller's back.
create or replace function odl.require_tenant(tenant_id text)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller record;
    known boolean;
begin
    select c.tenant_id, c.user_id into caller from odl.current_context as c;
    perform odl.set_session_context(require_tenant.tenant_id, null);
    known := exists (select from odl.tenants as t where t.tenant_id = require_tenant.tenant_id);
    perform odl.set_session_context(caller.tenant_id, caller.user_id);
    if not known then
        raise exception using
            errcode = 'ODC03',
            message = 'tenant does not exist',
            detail = format('tenant_id %s', quote_nullable(require_tenant.tenant_id));
    end if;
end
$$;

revoke all on function odl.require_tenant(text) from public;
comment on function odl.require_tenant(text) is
'Raises ODC03 unless the tenant exists; the caller''s context is unchanged';

create or replace function odl.odl_audit_digest(tenant_id text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    perform odl.require_tenant(odl_audit_digest.tenant_id);
    return odl.audit_head_digest(odl_audit_digest.tenant_id);
end
$$;

revoke all on function odl.odl_audit_digest(text) from public;
grant execute on function odl.odl_audit_digest(text) to odl_admin;
comment on function odl.odl_audit_digest(text) is
'The head of a tenant''s audit chain, signed: {tenant_id, seq, hash, time, key_id, signature} (odl_admin; ODC03). '
'Keep digests outside the database and hand one to odl_audit_verify()';

create or replace function odl.odl_audit_export_digests()
returns setof jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    head record;
    digest jsonb;
begin
    for head in select h.tenant_id, h.seq, h.hash from odl.audit_heads as h order by h.tenant_id loop
        digest := odl.audit_head_digest(head.tenant_id);
        -- A chain that has not moved since the last export is not recorded
        -- again; its digest is still returned, for the sink.
        if not exists (
            select from odl.audit_digests as d
            where d.tenant_id = head.tenant_id and d.seq = head.seq and d.digest ->> 'hash' = encode(head.hash, 'hex')
        ) then
            insert into odl.audit_digests (tenant_id, seq, digest) values (head.tenant_id, head.seq, digest);
        end if;
        return next digest;
    end loop;
end
$$;

alter function odl.odl_audit_export_digests() owner to odl_ledger;
revoke all on function odl.odl_audit_export_digests() from public;
grant execute on function odl.odl_audit_export_digests() to odl_admin;
comment on function odl.odl_audit_export_digests() is
'Signs the head of every tenant''s audit chain, records each digest in odl.audit_digests and returns them, '
'one per tenant, for a job that appends them to storage outside the database (odl_admin)';
-- sql/050_audit/odl_audit_verify.sql as released in @v0.2.0
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
            where e.tenant_id = audit_verify_chain.tenant_id
            offset 0
        ) as x
        window w as (order by x.seq, x.created_at)
    ) as y;
    last_seq := coalesce(last_seq, 0);

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
            select from pg_inherits as i
            where i.inhparent = 'odl.audit_events'::regclass and i.inhrelid = to_regclass(p.partition_name)
        )
    loop
        candidate_seq := case
            when missing.range_start is null then last_seq + 1
            when exists (
                select from odl.audit_events as e
                where e.tenant_id = audit_verify_chain.tenant_id and e.seq = 1 and e.created_at >= missing.range_end
            ) then null
            else coalesce((
                select max(e.seq) from odl.audit_events as e
                where e.tenant_id = audit_verify_chain.tenant_id and e.created_at < missing.range_start
            ), 0) + 1
        end;
        if candidate_seq is not null and (found_seq is null or candidate_seq < found_seq) then
            found_seq := candidate_seq;
            found_reason := 'partition missing';
        end if;
    end loop;

    select e.seq, e.hash, e.key_id, e.signature into last_event
    from odl.audit_events as e
    where e.tenant_id = audit_verify_chain.tenant_id
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
    elsif head.hash is distinct from last_event.hash then
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
'changed, event missing, order changed, forged event, head missing, partition missing, head does not match the '
'trusted digest (odl_admin; ODC03, ODA02). It checks the chain against the latest digest issued for export and '
'against trusted_digest: one digest from odl_audit_digest(), or an array of them, read from outside the database';
-- sql/050_audit/odl_audit_since.sql as released in @v0.2.0
-- SIEM export. Every append sends NOTIFY odl_audit with
-- {"tenant_id": ..., "seq": ...}; an exporter LISTENs, then reads with
-- odl_audit_since() from the last seq it shipped. Seqs commit in order
-- (writers hold the chain head until commit), so nothing committed is
-- ever skipped. Ship payload as text: its exact bytes are hashed.

create or replace function odl.odl_audit_since(tenant_id text, after_seq bigint, max_events integer default 1000)
returns setof odl.audit_events
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller_tenant text := odl.odl_current_tenant_id();
    caller_user text := odl.odl_current_user_id();
begin
    perform odl.set_session_context(odl_audit_since.tenant_id, null);
    return query
    select e.*
    from odl.audit_events as e
    where e.tenant_id = odl_audit_since.tenant_id and e.seq > coalesce(odl_audit_since.after_seq, 0)
    order by e.seq, e.created_at
    limit greatest(coalesce(odl_audit_since.max_events, 1000), 0);
    perform odl.set_session_context(caller_tenant, caller_user);
end
$$;

revoke all on function odl.odl_audit_since(text, bigint, integer) from public;
grant execute on function odl.odl_audit_since(text, bigint, integer) to odl_admin;
comment on function odl.odl_audit_since(text, bigint, integer) is
'Up to max_events (1000 when null, none when negative) audit events of a tenant after seq after_seq, in seq order, '
'for exporters (odl_admin)';

call odl.adopt_objects();

commit;
