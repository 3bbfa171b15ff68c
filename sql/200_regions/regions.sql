-- Data residency. Each regional database serves one region (the setting
-- region, odl_region()); a tenant's row carries its home region, which
-- never changes in place. Three checks keep every tenant's rows in its
-- home region:
--
--   tenants       a tenant of another region is never created here (ODW01)
--                 and a tenant's region is never updated (ODW02): a move is
--                 a logged migration (README, "Regions")
--   the context   odl_set_context() calls region_guard(), which refuses a
--                 tenant not homed here (ODW03) and, in a read-write
--                 transaction, one on its way elsewhere (ODW04). Every
--                 tenant-scoped write needs a context, so one check at
--                 context time covers them all: two index lookups
--   the move      odl_region_freeze() waits for the tenant's read-write
--                 transactions (a shared advisory lock each holds from its
--                 context on) and stops new ones
--
-- The router and the migrations live outside this database: the control
-- plane (control/) and odl_client.regions.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODW01', 'tenant_region_mismatch', 'A tenant is created in a database that serves another region'),
('ODW02', 'tenant_region_fixed', 'A tenant''s home region is updated in place instead of moved by a migration'),
('ODW03', 'tenant_not_homed_here', 'The tenant is not homed in the region this database serves'),
('ODW04', 'tenant_moving', 'The tenant is being moved to another region: its writes are refused here'),
('ODW05', 'region_move_invalid', 'A move to the tenant''s own region, to an unknown one, or one already under way'),
('ODW06', 'tenant_not_routed', 'The control plane maps no region for the tenant (the client''s RegionRouter)'),
('ODW07', 'migration_transition_invalid', 'A tenant migration skips or reverses a step of its state machine'),
('ODW08', 'region_map_fixed', 'The control plane''s tenant map changes outside a verified migration'),
('ODW09', 'region_in_use', 'The region a database serves changes while it holds tenants of another region')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.odl_region()
returns text
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select s.value from odl.settings as s where s.name = 'region'
$$;

revoke all on function odl.odl_region() from public;
grant execute on function odl.odl_region() to odl_app, odl_admin, odl_analyst;
comment on function odl.odl_region() is
'The residency region this database serves (US, EU or APAC); null when it serves every region';

create or replace function odl.region_tenant_guard()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    here text := (select s.value from odl.settings as s where s.name = 'region');
begin
    if tg_op = 'UPDATE' then
        if new.region is not distinct from old.region then
            return new;
        end if;
        raise exception using
            errcode = 'ODW02',
            message = 'a tenant''s home region is never updated',
            detail = format('tenant_id %s, region %s, new region %s', old.tenant_id, old.region, new.region),
            hint = 'Move the tenant with a migration (RegionRouter.move_tenant()), which copies, verifies and purges.';
    end if;
    if new.region <> here then
        raise exception using
            errcode = 'ODW01',
            message = format('this database serves region %s, not %s', here, new.region),
            detail = format('tenant region %s', new.region),
            hint = 'Create the tenant in the database of its region; the control plane names it.';
    end if;
    return new;
end
$$;

revoke all on function odl.region_tenant_guard() from public;
comment on function odl.region_tenant_guard() is
'Trigger on odl.tenants: refuses a tenant of another region (ODW01) and any update of a tenant''s region (ODW02)';

create or replace trigger tenants_region_guard
before insert or update of region on odl.tenants
for each row execute function odl.region_tenant_guard();
comment on trigger tenants_region_guard on odl.tenants is
'A tenant lives in the database of its home region, which never changes in place';

-- Called by odl_set_context() as the owner once the user is found to
-- belong to the tenant, on every context: a departure's lookup (the owner
-- reads odl.tenant_departures without a context's MAC, policy
-- owner_checks_departures) and a shared advisory lock, in read-write
-- transactions only. Whether the tenant is homed here needs no lookup: a
-- tenant of another region is never written here (region_tenant_guard(),
-- region_setting_guard()), so a tenant found here is homed here.
create or replace function odl.region_guard(tenant_id text)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    leaving text;
begin
    if current_setting('transaction_read_only') = 'on' then
        return;
    end if;
    select d.target_region into leaving from odl.tenant_departures as d where d.tenant_id = region_guard.tenant_id;
    if found then
        raise exception using
            errcode = 'ODW04',
            message = format('tenant is moving to region %s: writes are refused here', leaving),
            detail = format('tenant_id %s', region_guard.tenant_id),
            hint = 'Retry after the move, through the router; read-only transactions still read here.';
    end if;
    -- Held until commit: odl_region_freeze() waits for every writer.
    perform pg_advisory_xact_lock_shared(hashtextextended('odl.tenant_residency ' || region_guard.tenant_id, 0));
end
$$;

revoke all on function odl.region_guard(text) from public;
comment on function odl.region_guard(text) is
'For odl_set_context(): in a read-write transaction, refuses a tenant on its way to another region (ODW04), and '
'otherwise holds a shared lock on the tenant until commit, which odl_region_freeze() waits for';

-- Called by odl.audit_append_as(), once it set the context to the tenant,
-- whenever a function acts as a tenant other than its caller's context: the path of the administrators' writers
-- (odl_create_user()) and of the jobs, which set no context and so never
-- meet region_guard(). Every writer audits, so this one check covers them
-- all: a tenant on its way to another region (ODW04, read-only or not: this
-- is a write) or homed in another one (ODW03) is refused, and the statement
-- that wrote its rows fails with it. The move's own steps pass:
-- odl_region_freeze() audits tenant.moving after its marker is written.
create or replace function odl.region_write_guard(tenant_id text, action text)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    here text := (select s.value from odl.settings as s where s.name = 'region');
    leaving text;
begin
    if region_write_guard.action = 'tenant.moving' then
        return;
    end if;
    select d.target_region into leaving from odl.tenant_departures as d where d.tenant_id = region_write_guard.tenant_id;
    if found then
        raise exception using
            errcode = 'ODW04',
            message = format('tenant is moving to region %s: writes are refused here', leaving),
            detail = format('tenant_id %s, action %s', region_write_guard.tenant_id, region_write_guard.action),
            hint = 'Retry after the move, in the tenant''s new region.';
    end if;
    if here is not null and not exists (
        select from odl.tenants as t
        where t.tenant_id = region_write_guard.tenant_id and t.region = here
    ) then
        raise exception using
            errcode = 'ODW03',
            message = format('tenant is not homed in region %s', here),
            detail = format('tenant_id %s, action %s', region_write_guard.tenant_id, region_write_guard.action),
            hint = 'Route the tenant through the control plane (odl_client.RegionRouter).';
    end if;
end
$$;

revoke all on function odl.region_write_guard(text, text) from public;
comment on function odl.region_write_guard(text, text) is
'For odl.audit_append_as() acting as another tenant than the context''s (administrators'' functions, jobs): refuses '
'a tenant on its way to another region (ODW04) or homed in another one (ODW03), but the move''s tenant.moving';

-- Called by odl_set_context() when the user does not belong to the tenant,
-- before it raises ODC02: a database that serves one region says why.
create or replace function odl.region_home_check(tenant_id text)
returns void
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    here text := (select s.value from odl.settings as s where s.name = 'region');
begin
    if here is not null and not exists (
        select from odl.tenants as t
        where t.tenant_id = region_home_check.tenant_id and t.region = here
    ) then
        raise exception using
            errcode = 'ODW03',
            message = format('tenant is not homed in region %s', here),
            detail = format('tenant_id %s', region_home_check.tenant_id),
            hint = 'Route the tenant through the control plane (odl_client.RegionRouter).';
    end if;
end
$$;

revoke all on function odl.region_home_check(text) from public;
comment on function odl.region_home_check(text) is
'For odl_set_context(), under the tenant''s context: raises ODW03 when this database serves one region and does not '
'home the tenant';

create or replace function odl.region_setting_guard()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if (tg_op = 'INSERT' or new.value is distinct from old.value)
        and exists (select from odl.tenants as t where t.region <> new.value) then
        raise exception using
            errcode = 'ODW09',
            message = format('this database holds tenants of regions other than %s', new.value),
            detail = format('new region %s', new.value),
            hint = 'Move those tenants first; a database serves the region it was deployed for.';
    end if;
    return new;
end
$$;

revoke all on function odl.region_setting_guard() from public;
comment on function odl.region_setting_guard() is
'Trigger on odl.settings: the region a database serves changes only while it holds no tenant of another region '
'(ODW09; the DBA who changes it, a superuser, sees every tenant)';

create or replace trigger settings_region_guard
before insert or update on odl.settings
for each row when (new.name = 'region') execute function odl.region_setting_guard();
comment on trigger settings_region_guard on odl.settings is
'A database keeps serving the region of its tenants';

create or replace function odl.odl_region_freeze(tenant_id text, target_region text, migration_id bigint)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller_tenant text := odl.odl_current_tenant_id();
    caller_user text := odl.odl_current_user_id();
    home text;
begin
    perform odl.set_session_context(odl_region_freeze.tenant_id, null);
    select t.region into home from odl.tenants as t where t.tenant_id = odl_region_freeze.tenant_id;
    if not found then
        raise exception using
            errcode = 'ODC03',
            message = 'tenant does not exist',
            detail = format('tenant_id %s', odl_region_freeze.tenant_id);
    end if;
    if odl_region_freeze.target_region is null or odl_region_freeze.target_region not in ('US', 'EU', 'APAC') then
        raise exception using
            errcode = 'ODW05',
            message = 'cannot move a tenant to an unknown region',
            detail = format('target_region %s', quote_nullable(left(odl_region_freeze.target_region, 64))),
            hint = 'The regions are US, EU and APAC.';
    end if;
    if odl_region_freeze.target_region = home then
        raise exception using
            errcode = 'ODW05',
            message = format('the tenant is homed in region %s already', home),
            detail = format('tenant_id %s', odl_region_freeze.tenant_id);
    end if;
    -- Waits for the tenant's read-write transactions under way.
    perform pg_advisory_xact_lock(hashtextextended('odl.tenant_residency ' || odl_region_freeze.tenant_id, 0));
    insert into odl.tenant_departures (tenant_id, target_region, migration_id)
    values (odl_region_freeze.tenant_id, odl_region_freeze.target_region, odl_region_freeze.migration_id)
    on conflict on constraint tenant_departures_pkey do nothing;
    if not found then
        raise exception using
            errcode = 'ODW05',
            message = 'the tenant is already being moved',
            detail = format('tenant_id %s', odl_region_freeze.tenant_id);
    end if;
    perform odl.set_session_context(caller_tenant, caller_user);
    perform odl.audit_append_as(
        odl_region_freeze.tenant_id, null, 'tenant.moving',
        jsonb_build_object(
            'from', home, 'to', odl_region_freeze.target_region, 'migration_id', odl_region_freeze.migration_id
        )
    );
end
$$;

revoke all on function odl.odl_region_freeze(text, text, bigint) from public;
grant execute on function odl.odl_region_freeze(text, text, bigint) to odl_admin;
comment on function odl.odl_region_freeze(text, text, bigint) is
'First step of a move: waits for the tenant''s read-write transactions, then refuses new ones (ODW04) and audits '
'tenant.moving (odl_admin; ODC03, ODW05)';

create or replace function odl.odl_region_unfreeze(tenant_id text)
returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller_tenant text := odl.odl_current_tenant_id();
    caller_user text := odl.odl_current_user_id();
    target text;
begin
    perform odl.set_session_context(odl_region_unfreeze.tenant_id, null);
    delete from odl.tenant_departures as d
    where d.tenant_id = odl_region_unfreeze.tenant_id
    returning d.target_region into target;
    perform odl.set_session_context(caller_tenant, caller_user);
    if target is null then
        return false;
    end if;
    perform odl.audit_append_as(
        odl_region_unfreeze.tenant_id, null, 'tenant.move_abandoned', jsonb_build_object('to', target)
    );
    return true;
end
$$;

revoke all on function odl.odl_region_unfreeze(text) from public;
grant execute on function odl.odl_region_unfreeze(text) to odl_admin;
comment on function odl.odl_region_unfreeze(text) is
'Ends a move that failed before its purge: the tenant writes here again; audits tenant.move_abandoned and returns '
'true, or false when the tenant was not moving (odl_admin)';

-- Reports across regions combine these aggregates; no row leaves a region.
-- The owner sees one tenant at a time (RLS is forced), so the count runs
-- as that tenant.
create or replace function odl.region_tenant_counts(
    tenant_id text,
    out users bigint,
    out projects bigint,
    out documents bigint,
    out versions bigint,
    out audit_events bigint
)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller_tenant text := odl.odl_current_tenant_id();
    caller_user text := odl.odl_current_user_id();
begin
    perform odl.set_session_context(region_tenant_counts.tenant_id, null);
    users := (select count(*) from odl.users);
    projects := (select count(*) from odl.projects);
    documents := (select count(*) from odl.odl_documents);
    versions := (select count(*) from odl.odl_document_versions);
    audit_events := (select count(*) from odl.audit_events);
    perform odl.set_session_context(caller_tenant, caller_user);
end
$$;

revoke all on function odl.region_tenant_counts(text) from public;
grant execute on function odl.region_tenant_counts(text) to odl_admin;
comment on function odl.region_tenant_counts(text) is
'Row counts of one tenant, for odl_region_report() (odl_admin): numbers, never rows';

create or replace function odl.odl_region_report()
returns table (
    region text,
    tenants bigint,
    users bigint,
    projects bigint,
    documents bigint,
    versions bigint,
    audit_events bigint
)
language sql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select
        coalesce(odl.odl_region(), 'ALL'),
        count(*),
        coalesce(sum(c.users), 0)::bigint,
        coalesce(sum(c.projects), 0)::bigint,
        coalesce(sum(c.documents), 0)::bigint,
        coalesce(sum(c.versions), 0)::bigint,
        coalesce(sum(c.audit_events), 0)::bigint
    from odl.tenants as t
    cross join lateral odl.region_tenant_counts(t.tenant_id) as c
$$;

revoke all on function odl.odl_region_report() from public;
grant execute on function odl.odl_region_report() to odl_admin;
comment on function odl.odl_region_report() is
'One row of totals for this database''s region (ALL when it serves every region): tenants, users, projects, '
'documents, versions and audit events; the router adds the regions up (odl_admin)';
