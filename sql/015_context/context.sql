-- The tenant context: odl_set_context() stores the tenant and the acting
-- user in transaction-local settings, and RLS policies read them through
-- odl_current_tenant_id() in a scalar subquery, evaluated once per query.
--
-- Any role can write a setting, so the context carries a seal: a MAC over
-- tenant, user, backend and transaction start, keyed by odl.secrets. A
-- context written with set_config() has no valid seal and reads as none.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODC01', 'no_context', 'No tenant context is set in this transaction'),
('ODC02', 'invalid_context', 'The user does not belong to the tenant given to odl_set_context()'),
('ODC03', 'unknown_tenant', 'The tenant does not exist'),
('ODC04', 'mfa_required', 'The role requires multi-factor authentication, which the user does not have')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.context_seal(tenant_id text, user_id text)
returns text
language sql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select encode(
        sha256(s.outer_key || sha256(s.inner_key || convert_to(
            jsonb_build_array(tenant_id, user_id, pg_backend_pid(), now())::text, 'UTF8'
        ))),
        'hex'
    )
    from odl.secrets as s
    where s.name = 'context_seal'
$$;

revoke all on function odl.context_seal(text, text) from public;
comment on function odl.context_seal(text, text) is
'MAC of a context, bound to this backend and transaction; only definer functions call it';

create or replace function odl.set_sealed_context(tenant_id text, user_id text)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    -- Transaction-local, so a pooled connection never carries a context
    -- into the next transaction.
    perform set_config('odl.tenant_id', coalesce(tenant_id, ''), true);
    perform set_config('odl.user_id', coalesce(user_id, ''), true);
    perform set_config('odl.context_seal', coalesce(odl.context_seal(tenant_id, user_id), ''), true);
end
$$;

revoke all on function odl.set_sealed_context(text, text) from public;
comment on function odl.set_sealed_context(text, text) is
'Writes a sealed context without checks; for odl_set_context() and functions that act as a tenant';

create or replace function odl.odl_current_tenant_id()
returns text
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select c.tenant_id
    from (
        select
            nullif(current_setting('odl.tenant_id', true), '') as tenant_id,
            nullif(current_setting('odl.user_id', true), '') as user_id
    ) as c
    where current_setting('odl.context_seal', true) = odl.context_seal(c.tenant_id, c.user_id)
$$;

revoke all on function odl.odl_current_tenant_id() from public;
grant execute on function odl.odl_current_tenant_id() to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_current_tenant_id() is
'The tenant of this transaction, set by odl_set_context(); null when none is set or its seal is not valid';

create or replace function odl.odl_current_user_id()
returns text
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select c.user_id
    from (
        select
            nullif(current_setting('odl.tenant_id', true), '') as tenant_id,
            nullif(current_setting('odl.user_id', true), '') as user_id
    ) as c
    where current_setting('odl.context_seal', true) = odl.context_seal(c.tenant_id, c.user_id)
$$;

revoke all on function odl.odl_current_user_id() from public;
grant execute on function odl.odl_current_user_id() to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_current_user_id() is
'The acting user of this transaction, set by odl_set_context(); null when none is set or its seal is not valid';

create or replace function odl.require_context(out tenant_id text, out user_id text)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    tenant_id := odl.odl_current_tenant_id();
    user_id := odl.odl_current_user_id();
    if tenant_id is null or user_id is null then
        raise exception using
            errcode = 'ODC01',
            message = 'no tenant context is set',
            hint = 'Call odl_set_context(tenant_id, user_id) earlier in the same transaction.';
    end if;
end
$$;

revoke all on function odl.require_context() from public;
comment on function odl.require_context() is
'The tenant and user of this transaction; raises ODC01 when either is missing. Writing API functions call it first';

create or replace function odl.odl_set_context(tenant_id text, user_id text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    -- Under the tenant's RLS, the user is visible only if it belongs.
    perform odl.set_sealed_context(odl_set_context.tenant_id, null);
    if not exists (
        select from odl.users as u
        where u.tenant_id = odl_set_context.tenant_id and u.user_id = odl_set_context.user_id
    ) then
        raise exception using
            errcode = 'ODC02',
            message = 'user does not belong to tenant',
            detail = format('tenant_id %s, user_id %s', odl_set_context.tenant_id, odl_set_context.user_id);
    end if;
    perform odl.set_sealed_context(odl_set_context.tenant_id, odl_set_context.user_id);
end
$$;

revoke all on function odl.odl_set_context(text, text) from public;
grant execute on function odl.odl_set_context(text, text) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_set_context(text, text) is
'Sets the tenant and acting user for the rest of the transaction (ODC02 if the user is not in the tenant)';
