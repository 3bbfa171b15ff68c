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
