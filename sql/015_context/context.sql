-- The tenant context: odl_set_context() stores the tenant and the acting
-- user in transaction-local settings, and RLS policies read them through
-- odl_current_tenant_id() in a scalar subquery, evaluated once per query.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODC01', 'no_context', 'No tenant context is set in this transaction'),
('ODC02', 'invalid_context', 'The user does not belong to the tenant given to odl_set_context()'),
('ODC03', 'unknown_tenant', 'The tenant does not exist')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.odl_current_tenant_id()
returns text
language sql
stable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select nullif(current_setting('odl.tenant_id', true), '')
$$;

revoke all on function odl.odl_current_tenant_id() from public;
grant execute on function odl.odl_current_tenant_id() to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_current_tenant_id() is
'The tenant of this transaction, set by odl_set_context(); null when none is set';

create or replace function odl.odl_current_user_id()
returns text
language sql
stable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select nullif(current_setting('odl.user_id', true), '')
$$;

revoke all on function odl.odl_current_user_id() from public;
grant execute on function odl.odl_current_user_id() to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_current_user_id() is
'The acting user of this transaction, set by odl_set_context(); null when none is set';

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
    -- Transaction-local, so a pooled connection never carries a context
    -- into the next transaction.
    perform set_config('odl.tenant_id', coalesce(odl_set_context.tenant_id, ''), true);
    perform set_config('odl.user_id', '', true);

    -- Under the new tenant's RLS, the user is visible only if it belongs.
    if not exists (
        select from odl.users as u
        where u.tenant_id = odl_set_context.tenant_id and u.user_id = odl_set_context.user_id
    ) then
        raise exception using
            errcode = 'ODC02',
            message = 'user does not belong to tenant',
            detail = format('tenant_id %s, user_id %s', odl_set_context.tenant_id, odl_set_context.user_id);
    end if;

    perform set_config('odl.user_id', odl_set_context.user_id, true);
end
$$;

revoke all on function odl.odl_set_context(text, text) from public;
grant execute on function odl.odl_set_context(text, text) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_set_context(text, text) is
'Sets the tenant and acting user for the rest of the transaction (ODC02 if the user is not in the tenant)';
