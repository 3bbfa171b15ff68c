-- Signing keys of the audit ledger. HMAC-SHA-256 (RFC 2104) is computed
-- with the built-in sha256() from the two stored pads, so that no extension
-- (pgcrypto) is needed and any HMAC library recomputes it from K, which is
-- inner_key XOR 0x36 repeated.

create or replace function odl.odl_audit_rotate_key()
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
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
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select sha256(k.outer_key || sha256(k.inner_key || message))
    from odl.audit_keys as k
    where k.key_id = audit_hmac.key_id
$$;

revoke all on function odl.audit_hmac(integer, bytea) from public;
comment on function odl.audit_hmac(integer, bytea) is
'HMAC-SHA-256 of message under audit key key_id; null for an unknown key';

-- The first key, made once.
do $$
begin
    if not exists (select from odl.audit_keys as k where k.retired_at is null) then
        perform odl.odl_audit_rotate_key();
    end if;
end
$$;
