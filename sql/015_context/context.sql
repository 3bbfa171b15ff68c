-- The tenant context: odl_set_context() records the tenant and the acting
-- user of the current transaction in the transaction-local setting
-- odl.context, signed, and RLS policies read it through the view
-- odl.current_context.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODC01', 'no_context', 'No tenant context is set in this transaction'),
('ODC02', 'invalid_context', 'The user does not belong to the tenant given to odl_set_context()'),
('ODC03', 'unknown_tenant', 'The tenant does not exist'),
('ODC04', 'mfa_required', 'The role requires multi-factor authentication, which the user does not have')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

-- A context's MAC signs the tenant, the user, this backend and this
-- transaction's start (in microseconds, whatever the TimeZone), so that a
-- context copied into another session or transaction is worthless.
create or replace function odl.set_session_context(tenant_id text, user_id text)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if tenant_id is null then
        perform set_config('odl.context', '', true);
        return;
    end if;
    perform set_config(
        'odl.context',
        format(
            '%s/%s/%s', tenant_id, coalesce(user_id, ''),
            (
                -- The message odl.current_context checks (see there).
                select encode(sha256(k.outer_key || sha256(k.inner_key || convert_to(
                    format(
                        '%s/%s/%s/%s', tenant_id, coalesce(user_id, ''), pg_backend_pid(),
                        (extract(epoch from transaction_timestamp()) * 1000000)::bigint
                    ),
                    'UTF8'
                ))), 'hex')
                from odl.identity_keys as k
                where k.purpose = 'context'
                order by k.key_id desc
                limit 1
            )
        ),
        true
    );
end
$$;

revoke all on function odl.set_session_context(text, text) from public;
comment on function odl.set_session_context(text, text) is
'Records a context without checks; for odl_set_context() and functions that act as a tenant';

-- The context lives in the transaction-local setting odl.context as
-- tenant/user/MAC. Any role can write a setting, but only the owner can
-- compute the MAC (the key is the owner's), so a written context that the
-- owner did not sign shows as no context at all. Nothing is written to a
-- table: contexts work in read-only transactions and on hot standbys.
-- RLS policies read this view in a scalar subquery, which the planner runs
-- once per query as an initPlan. The view reads the key as its owner; its
-- expressions are built-in functions, so a caller computes no MAC.
create or replace view odl.current_context
with (security_barrier)
as
select
    s.tenant_id,
    nullif(s.user_id, '') as user_id
from (
    select
        split_part(v.setting, '/', 1) as tenant_id,
        split_part(v.setting, '/', 2) as user_id,
        split_part(v.setting, '/', 3) as mac,
        convert_to(
            format(
                '%s/%s/%s/%s', split_part(v.setting, '/', 1), split_part(v.setting, '/', 2), pg_backend_pid(),
                (extract(epoch from transaction_timestamp()) * 1000000)::bigint
            ),
            'UTF8'
        ) as message
    from (select current_setting('odl.context', true) as setting) as v
    where v.setting like '%/%/%'
) as s
cross join (
    select k.inner_key, k.outer_key
    from odl.identity_keys as k
    where k.purpose = 'context'
    order by k.key_id desc
    limit 1
) as k
where s.mac = encode(sha256(k.outer_key || sha256(k.inner_key || s.message)), 'hex');

revoke all on odl.current_context from public;
grant select on odl.current_context to odl_app, odl_analyst, odl_admin;
comment on view odl.current_context is
'The tenant and acting user of this transaction, as set by odl_set_context(); no row when none is set';

create or replace function odl.odl_current_tenant_id()
returns text
language sql
stable
parallel restricted
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select c.tenant_id from odl.current_context as c
$$;

revoke all on function odl.odl_current_tenant_id() from public;
grant execute on function odl.odl_current_tenant_id() to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_current_tenant_id() is
'The tenant of this transaction, set by odl_set_context(); null when none is set';

create or replace function odl.odl_current_user_id()
returns text
language sql
stable
parallel restricted
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select c.user_id from odl.current_context as c
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
    -- The view directly: the SQL functions above cannot be inlined and
    -- would plan their query again on every call.
    select c.tenant_id, c.user_id into require_context.tenant_id, require_context.user_id
    from odl.current_context as c;
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

-- Who may act as whom. A person's login (bound by the tenant's
-- administrator with odl_bind_login()) acts only as its user; an
-- application (a member of odl_app) acts for any user of the tenant, and in
-- token mode only with a token from the login service; any other login gets
-- no context.
create or replace function odl.odl_set_context(tenant_id text, user_id text, token text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    bound record;
    parts text[];
begin
    if tenant_id is null or user_id is null then
        raise exception using errcode = '22004', message = 'tenant_id and user_id must not be null';
    end if;
    -- pg_has_role() is true for superusers too: they pass as applications.
    if pg_has_role(session_user, 'odl_app', 'member') then
        if (select s.value from odl.settings as s where s.name = 'require_context_token') = 'on'
            and not (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = session_user) then
            if token is null then
                raise exception using
                    errcode = 'ODC07',
                    message = 'token mode is on: the context needs a token from the login service';
            end if;
            parts := string_to_array(token, '.');
            if cardinality(parts) <> 6 or parts[1] <> 'odl1' or parts[2] !~ '^[0-9]{1,9}$'
                or parts[5] !~ '^[0-9]{1,12}$'
                or parts[6] is distinct from odl.identity_mac('token', array_to_string(parts[1:5], '.'), parts[2]::integer)
                then
                raise exception using errcode = 'ODC08', message = 'the token is malformed or altered';
            end if;
            if parts[3] <> odl_set_context.tenant_id or parts[4] <> odl_set_context.user_id then
                raise exception using errcode = 'ODC08', message = 'the token was issued for another tenant or user';
            end if;
            if parts[5]::bigint < extract(epoch from now()) then
                raise exception using
                    errcode = 'ODC09',
                    message = format('the token expired at %s', to_timestamp(parts[5]::bigint));
            end if;
        end if;
    else
        -- A person's login acts only as the user it is bound to.
        select b.tenant_id, b.user_id into bound from odl.login_bindings as b where b.login = session_user;
        if not found then
            raise exception using
                errcode = 'ODC06',
                message = format('login %s is not bound to a user', session_user),
                hint = 'The tenant''s administrator binds a person''s login with odl_bind_login(login, user_id).';
        end if;
        if bound.tenant_id <> odl_set_context.tenant_id or bound.user_id <> odl_set_context.user_id then
            raise exception using
                errcode = 'ODC05',
                message = format('login %s is bound to another user and may act only as that user', session_user);
        end if;
    end if;
    -- Under the tenant's RLS, the user is visible only if it belongs; an
    -- error undoes the context with the transaction (or the savepoint).
    perform odl.set_session_context(odl_set_context.tenant_id, odl_set_context.user_id);
    if not exists (
        select from odl.users as u
        where u.tenant_id = odl_set_context.tenant_id and u.user_id = odl_set_context.user_id
    ) then
        -- A tenant of another region is no tenant here (ODW03).
        perform odl.region_home_check(odl_set_context.tenant_id);
        raise exception using
            errcode = 'ODC02',
            message = 'user does not belong to tenant',
            detail = format('tenant_id %s, user_id %s', odl_set_context.tenant_id, odl_set_context.user_id);
    end if;
    -- Residency (sql/200_regions): every tenant-scoped write needs a
    -- context, so this one check stops the writes of a tenant on its way to
    -- another region.
    perform odl.region_guard(odl_set_context.tenant_id);
end
$$;

revoke all on function odl.odl_set_context(text, text, text) from public;
grant execute on function odl.odl_set_context(text, text, text) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_set_context(text, text, text) is
'Sets the tenant and acting user for the rest of the transaction: a bound login only as its user (ODC05), an '
'unbound one never (ODC06), an application with a token from the login service in token mode (ODC07-ODC09)';

create or replace function odl.odl_set_context(tenant_id text, user_id text)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    -- PL/pgSQL, not SQL: its plan is kept from call to call.
    perform odl.odl_set_context(tenant_id, user_id, null);
end
$$;

revoke all on function odl.odl_set_context(text, text) from public;
grant execute on function odl.odl_set_context(text, text) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_set_context(text, text) is
'odl_set_context(tenant_id, user_id, token) without a token, as a bound login or outside token mode';

create or replace function odl.odl_clear_context()
returns void
language sql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select odl.set_session_context(null, null)
$$;

revoke all on function odl.odl_clear_context() from public;
grant execute on function odl.odl_clear_context() to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_clear_context() is
'Ends the context before the transaction does; afterwards the transaction sees no tenant rows';
