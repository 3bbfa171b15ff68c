-- A signed statement of a chain's head, for operators to keep outside the
-- database. The signature is HMAC-SHA-256, under the current audit key, of
-- the UTF-8 text
--
--   odl-audit-digest-v1|tenant_id|seq|hash|time
--
-- with hash in lower-case hex and time as in the digest (empty for an empty
-- chain). Given back to odl_audit_verify(), it detects a removed tail and a
-- rewritten chain, which no check inside the database can.

create or replace function odl.audit_digest_message(digest jsonb)
returns bytea
language sql
immutable
strict
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select convert_to(
        concat_ws(
            '|', 'odl-audit-digest-v1', digest ->> 'tenant_id', digest ->> 'seq', digest ->> 'hash',
            coalesce(digest ->> 'time', '')
        ),
        'UTF8'
    )
$$;

revoke all on function odl.audit_digest_message(jsonb) from public;
comment on function odl.audit_digest_message(jsonb) is
'The bytes a digest''s signature covers: odl-audit-digest-v1|tenant_id|seq|hash|time';

create or replace function odl.odl_audit_digest(tenant_id text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller_tenant text := odl.odl_current_tenant_id();
    caller_user text := odl.odl_current_user_id();
    digest jsonb;
    signing_key integer;
begin
    perform odl.set_session_context(odl_audit_digest.tenant_id, null);
    if not exists (select from odl.tenants as t where t.tenant_id = odl_audit_digest.tenant_id) then
        raise exception using
            errcode = 'ODC03',
            message = 'tenant does not exist',
            detail = format('tenant_id %s', quote_nullable(odl_audit_digest.tenant_id));
    end if;

    select jsonb_build_object(
        'tenant_id', odl_audit_digest.tenant_id,
        'seq', coalesce(h.seq, 0),
        'hash', encode(coalesce(h.hash, decode(repeat('00', 32), 'hex')), 'hex'),
        'time', to_char(h.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    )
    into digest
    from (select) as one
    left join odl.audit_heads as h on h.tenant_id = odl_audit_digest.tenant_id;

    select k.key_id into signing_key from odl.audit_keys as k where k.retired_at is null;
    digest := digest || jsonb_build_object(
        'key_id', signing_key,
        'signature', encode(odl.audit_hmac(signing_key, odl.audit_digest_message(digest)), 'hex')
    );

    perform odl.set_session_context(caller_tenant, caller_user);
    return digest;
end
$$;

revoke all on function odl.odl_audit_digest(text) from public;
grant execute on function odl.odl_audit_digest(text) to odl_admin;
comment on function odl.odl_audit_digest(text) is
'The head of a tenant''s audit chain, signed: {tenant_id, seq, hash, time, key_id, signature} (odl_admin; ODC03). '
'Keep digests outside the database and hand one to odl_audit_verify()';
