-- Frozen by tools/srcguard rework: context as released in @v0.1.0.
-- Deploy odl-db:context to pg
-- requires: ownership

begin;

-- sql/015_context/context.sql as released in @v0.1.0
-- The tenant context: odl_set_context() records the tenant and the acting
-- user of the current transaction in odl.session_contexts, and RLS policies
-- read it through the view odl.current_context.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODC01', 'no_context', 'No tenant context is set in this transaction'),
('ODC02', 'invalid_context', 'The user does not belong to the tenant given to odl_set_context()'),
('ODC03', 'unknown_tenant', 'The tenant does not exist'),
('ODC04', 'mfa_required', 'The role requires multi-factor authentication, which the user does not have')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.set_session_context(tenant_id text, user_id text)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if tenant_id is null then
        delete from odl.session_contexts where backend_pid = pg_backend_pid();
        return;
    end if;
    insert into odl.session_contexts as c (backend_pid, transaction_start, tenant_id, user_id)
    values (pg_backend_pid(), now(), set_session_context.tenant_id, set_session_context.user_id)
    on conflict (backend_pid) do update
    set transaction_start = excluded.transaction_start,
        tenant_id = excluded.tenant_id,
        user_id = excluded.user_id;
end
$$;

revoke all on function odl.set_session_context(text, text) from public;
comment on function odl.set_session_context(text, text) is
'Records a context without checks; for odl_set_context() and functions that act as a tenant';

-- RLS policies read this view in a scalar subquery, which the planner runs
-- once per query as an initPlan: an index lookup, no function call.
create or replace view odl.current_context
with (security_invoker = true)
as
select
    c.tenant_id,
    c.user_id
from odl.session_contexts as c
where c.backend_pid = pg_backend_pid() and c.transaction_start = now();

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

create or replace function odl.odl_set_context(tenant_id text, user_id text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    -- Under the tenant's RLS, the user is visible only if it belongs.
    perform odl.set_session_context(odl_set_context.tenant_id, null);
    if not exists (
        select from odl.users as u
        where u.tenant_id = odl_set_context.tenant_id and u.user_id = odl_set_context.user_id
    ) then
        raise exception using
            errcode = 'ODC02',
            message = 'user does not belong to tenant',
            detail = format('tenant_id %s, user_id %s', odl_set_context.tenant_id, odl_set_context.user_id);
    end if;
    perform odl.set_session_context(odl_set_context.tenant_id, odl_set_context.user_id);
end
$$;

revoke all on function odl.odl_set_context(text, text) from public;
grant execute on function odl.odl_set_context(text, text) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_set_context(text, text) is
'Sets the tenant and acting user for the rest of the transaction (ODC02 if the user is not in the tenant)';

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

call odl.adopt_objects();

commit;
