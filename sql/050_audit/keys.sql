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
