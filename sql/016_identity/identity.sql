-- Identity: the keys behind an unforgeable context, the login service's
-- tokens, and the bindings of human logins to users. odl_set_context()
-- (sql/015_context/context.sql) enforces what these record.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODC05', 'login_bound', 'The login is bound to another user, the only one it may act as'),
('ODC06', 'login_not_bound', 'A login that is neither an application nor bound to a user gets no context'),
('ODC07', 'token_required', 'Token mode is on: an application needs a token from the login service'),
('ODC08', 'invalid_token', 'The token is malformed, altered, or issued for another tenant or user'),
('ODC09', 'token_expired', 'The token has expired')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.make_identity_key(purpose text)
returns integer
language plpgsql
volatile
security invoker
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
    insert into odl.identity_keys (purpose, inner_key, outer_key)
    values (make_identity_key.purpose, inner_pad, outer_pad)
    returning key_id into new_key;
    return new_key;
end
$$;

revoke all on function odl.make_identity_key(text) from public;
comment on function odl.make_identity_key(text) is
'Makes a new HMAC key for contexts or tokens, which signs from then on (owner only; a new context key ends the '
'contexts of transactions in flight)';

-- HMAC-SHA-256 of message, hex, under the newest key of the purpose, or
-- under key_id when given. Owner only: whoever can call it can forge.
create or replace function odl.identity_mac(purpose text, message text, key_id integer default null)
returns text
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- plpgsql, not sql: its plan is kept for the session, where a SQL function
-- called once per statement is planned again each time (every write asks
-- for the change channel's name).
begin
    return (
        select encode(sha256(k.outer_key || sha256(k.inner_key || convert_to(message, 'UTF8'))), 'hex')
        from odl.identity_keys as k
        where k.purpose = identity_mac.purpose and k.key_id = coalesce(identity_mac.key_id, k.key_id)
        order by k.key_id desc
        limit 1
    );
end
$$;

revoke all on function odl.identity_mac(text, text, integer) from public;
comment on function odl.identity_mac(text, text, integer) is
'HMAC-SHA-256 (hex) of a message under the newest identity key of a purpose, or under key_id';

create or replace function odl.odl_issue_context_token(tenant_id text, user_id text, ttl_seconds integer default 300)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller record;
    key_id integer;
    expires bigint;
    body text;
    known boolean;
begin
    if tenant_id is null or user_id is null or ttl_seconds is null then
        raise exception using errcode = '22004', message = 'tenant_id, user_id and ttl_seconds must not be null';
    end if;
    if ttl_seconds not between 1 and 86400 then
        raise exception using
            errcode = '22023',
            message = format('ttl_seconds must be between 1 and 86400, not %s', ttl_seconds);
    end if;
    -- The user must belong to the tenant, which only its RLS context shows.
    select c.tenant_id, c.user_id into caller from odl.current_context as c;
    perform odl.set_session_context(odl_issue_context_token.tenant_id, null);
    known := exists (
        select from odl.users as u
        where u.tenant_id = odl_issue_context_token.tenant_id and u.user_id = odl_issue_context_token.user_id
    );
    perform odl.set_session_context(caller.tenant_id, caller.user_id);
    if not known then
        raise exception using
            errcode = 'ODC02',
            message = 'user does not belong to tenant',
            detail = format('tenant_id %s, user_id %s', tenant_id, user_id);
    end if;
    select max(k.key_id) into key_id from odl.identity_keys as k where k.purpose = 'token';
    expires := extract(epoch from now())::bigint + ttl_seconds;
    body := format('odl1.%s.%s.%s.%s', key_id, tenant_id, user_id, expires);
    return body || '.' || odl.identity_mac('token', body, key_id);
end
$$;

revoke all on function odl.odl_issue_context_token(text, text, integer) from public;
grant execute on function odl.odl_issue_context_token(text, text, integer) to odl_auth;
comment on function odl.odl_issue_context_token(text, text, integer) is
'A token that lets an application set the context of this tenant and user for ttl_seconds (default 300) in '
'token mode; for the login service (odl_auth) after it authenticated the user';

create or replace function odl.odl_bind_login(login text, user_id text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    ctx record;
    bound record;
begin
    if login is null or user_id is null then
        raise exception using errcode = '22004', message = 'login and user_id must not be null';
    end if;
    select * into ctx from odl.require_context();
    if not odl.is_tenant_admin() then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: only the tenant''s administrator binds logins';
    end if;
    if not exists (
        select from pg_catalog.pg_roles as r
        where r.rolname = odl_bind_login.login and r.rolcanlogin and not r.rolsuper
            and not pg_has_role(r.oid, 'odl_app', 'member') and not pg_has_role(r.oid, 'odl_owner', 'member')
            and not pg_has_role(r.oid, 'odl_auth', 'member')
    ) then
        raise exception using
            errcode = '22023',
            message = format('%s is not a login role a person uses', quote_ident(login)),
            hint = 'Bind the login role of a person (create role ... login in role odl_analyst); applications '
            || '(odl_app), the owner and the login service are never bound';
    end if;
    if not exists (
        select from odl.users as u where u.tenant_id = ctx.tenant_id and u.user_id = odl_bind_login.user_id
    ) then
        raise exception using
            errcode = 'ODC02',
            message = 'user does not belong to tenant',
            detail = format('tenant_id %s, user_id %s', ctx.tenant_id, user_id);
    end if;
    select b.* into bound from odl.login_bindings as b where b.login = odl_bind_login.login;
    if found then
        update odl.login_bindings as b
        set user_id = odl_bind_login.user_id, bound_by = ctx.user_id, bound_at = now()
        where b.login = odl_bind_login.login;
    else
        insert into odl.login_bindings (login, tenant_id, user_id, bound_by)
        values (odl_bind_login.login, ctx.tenant_id, odl_bind_login.user_id, ctx.user_id);
    end if;
end
$$;

revoke all on function odl.odl_bind_login(text, text) from public;
grant execute on function odl.odl_bind_login(text, text) to odl_app;
comment on function odl.odl_bind_login(text, text) is
'Binds a person''s login role to a user of the tenant (the tenant''s administrator): that login''s context can '
'only be that user. Binding again moves it to another user';

create or replace function odl.odl_unbind_login(login text)
returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    perform odl.require_context();
    if not odl.is_tenant_admin() then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: only the tenant''s administrator unbinds logins';
    end if;
    delete from odl.login_bindings as b where b.login = odl_unbind_login.login;
    return found;
end
$$;

revoke all on function odl.odl_unbind_login(text) from public;
grant execute on function odl.odl_unbind_login(text) to odl_app;
comment on function odl.odl_unbind_login(text) is
'Removes a login''s binding (the tenant''s administrator); the login then gets no context. True if it was bound';

create or replace function odl.odl_login_bindings()
returns table (login name, user_id text, email text, bound_by text, bound_at timestamptz)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select b.login, b.user_id, u.email, b.bound_by, b.bound_at
    from odl.login_bindings as b
    inner join odl.users as u on b.tenant_id = u.tenant_id and b.user_id = u.user_id
    where odl.is_tenant_admin()
    order by b.login
$$;

revoke all on function odl.odl_login_bindings() from public;
grant execute on function odl.odl_login_bindings() to odl_app;
comment on function odl.odl_login_bindings() is
'The tenant''s login bindings, for its administrator (no rows for anyone else)';

-- The first keys, made once.
do $$
begin
    if not exists (select from odl.identity_keys as k where k.purpose = 'context') then
        perform odl.make_identity_key('context');
    end if;
    if not exists (select from odl.identity_keys as k where k.purpose = 'token') then
        perform odl.make_identity_key('token');
    end if;
end
$$;

-- An administrator turns an e-mail address into a user_id. E-mail
-- addresses are unique per tenant without regard to case
-- (users_tenant_id_email_key on lower(email)), so this finds at most one.
create or replace function odl.odl_find_user(tenant_id text, email text)
returns table (user_id text, role text, mfa_enabled boolean, agent text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    caller record;
    found_user record;
begin
    if odl_find_user.tenant_id is null or odl_find_user.email is null then
        raise exception using errcode = '22004', message = 'tenant_id and email must not be null';
    end if;
    -- The users of a tenant show only under its context; the caller's
    -- context, if any, comes back before anything is returned.
    select c.tenant_id, c.user_id into caller from odl.current_context as c;
    perform odl.set_session_context(odl_find_user.tenant_id, null);
    if not exists (select from odl.tenants as t where t.tenant_id = odl_find_user.tenant_id) then
        perform odl.set_session_context(caller.tenant_id, caller.user_id);
        raise exception using
            errcode = 'ODC03',
            message = 'tenant does not exist',
            detail = format('tenant_id %s', odl_find_user.tenant_id);
    end if;
    select u.user_id::text as user_id, u.role, u.mfa_enabled, u.agent into found_user
    from odl.users as u
    where u.tenant_id = odl_find_user.tenant_id and lower(u.email) = lower(odl_find_user.email);
    perform odl.set_session_context(caller.tenant_id, caller.user_id);
    if found_user.user_id is not null then
        return query select found_user.user_id, found_user.role, found_user.mfa_enabled, found_user.agent;
    end if;
end
$$;

revoke all on function odl.odl_find_user(text, text) from public;
grant execute on function odl.odl_find_user(text, text) to odl_admin;
comment on function odl.odl_find_user(text, text) is
'The user of a tenant with this e-mail address, compared without regard to case: user_id, coarse role, MFA and '
'agent kind; no row when there is none (odl_admin). ODC03, 22004';

create or replace function odl.odl_my_binding(out tenant_id text, out user_id text)
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    -- The policy own_login shows each login its own binding, context or not.
    select b.tenant_id, b.user_id into tenant_id, user_id from odl.login_bindings as b where b.login = session_user;
end
$$;

revoke all on function odl.odl_my_binding() from public;
grant execute on function odl.odl_my_binding() to odl_analyst, odl_admin;
comment on function odl.odl_my_binding() is
'The tenant and user this login is bound to (nulls when unbound), to pass to odl_set_context()';
