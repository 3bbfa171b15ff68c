-- Deploy odl-control:roles to pg
-- requires: control_plane
-- Roles of the control plane: odl_control_owner owns every object, and
-- odl_control_router, which the router's login is granted, reads the map
-- (tenant -> region -> connection strings) and the migrations, and changes
-- them only through the owner's functions, each of which the triggers log:
-- register_tenant(), plan_migration(), advance_migration() and
-- flip_tenant(). The tables holding a row per tenant (tenants,
-- migrations, migration_log) are under forced RLS, with no policy that
-- lets the router write. Roles are cluster-wide: a second control plane in
-- the same cluster shares them.

begin;

do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'odl_control_owner') then
        create role odl_control_owner nologin;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'odl_control_router') then
        create role odl_control_router nologin;
    end if;
end
$$;
comment on role odl_control_owner is 'Owns the control plane''s schema odl_control (no login)';
comment on role odl_control_router is
'The region router: reads tenant -> region -> connection and the migrations; changes them through functions only';

create function odl_control.register_tenant(tenant_id text, region text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl_control, pg_temp
as $$
declare
    known text;
begin
    insert into odl_control.tenants as t (tenant_id, region)
    values (register_tenant.tenant_id, register_tenant.region)
    on conflict on constraint tenants_pkey do nothing;
    if not found then
        select t.region into known from odl_control.tenants as t where t.tenant_id = register_tenant.tenant_id;
        if known is distinct from register_tenant.region then
            raise exception using
                errcode = 'ODW08',
                message = 'a tenant''s region changes only by a verified migration',
                detail = format(
                    'tenant_id %s, region %s, new region %s', register_tenant.tenant_id, known, register_tenant.region
                );
        end if;
    end if;
end
$$;
comment on function odl_control.register_tenant(text, text) is
'Maps a tenant created in its region''s database to that region; again with the same region does nothing, with '
'another is refused (ODW08)';

create function odl_control.plan_migration(tenant_id text, source_region text, target_region text)
returns bigint
language sql
volatile
security definer
set search_path = pg_catalog, odl_control, pg_temp
as $$
    insert into odl_control.migrations (tenant_id, source_region, target_region)
    values (plan_migration.tenant_id, plan_migration.source_region, plan_migration.target_region)
    returning migration_id
$$;
comment on function odl_control.plan_migration(text, text, text) is
'Records a planned move of a tenant (logged in migration_log); returns its migration_id';

create function odl_control.advance_migration(migration_id bigint, state text, detail jsonb default '{}')
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl_control, pg_temp
as $$
begin
    update odl_control.migrations as m
    set state = advance_migration.state, detail = m.detail || coalesce(advance_migration.detail, '{}')
    where m.migration_id = advance_migration.migration_id;
    if not found then
        raise exception using
            errcode = 'ODW07',
            message = 'a migration that does not exist takes no step',
            detail = format('migration_id %s', advance_migration.migration_id);
    end if;
end
$$;
comment on function odl_control.advance_migration(bigint, text, jsonb) is
'Moves a migration to its next state along odl_control.migration_transitions (ODW07 otherwise), merging detail; '
'the state is logged in migration_log';

-- flip_tenant() becomes the owner's, for the router; a migration that does
-- not exist, or is not verified, flips nothing (ODW07, ODW08).
create or replace function odl_control.flip_tenant(migration_id bigint)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl_control, pg_temp
as $$
declare
    m odl_control.migrations;
begin
    select * into m from odl_control.migrations as g where g.migration_id = flip_tenant.migration_id for update;
    if not found then
        raise exception using
            errcode = 'ODW07',
            message = 'a migration that does not exist takes no step',
            detail = format('migration_id %s', flip_tenant.migration_id);
    end if;
    update odl_control.tenants as t set region = m.target_region where t.tenant_id = m.tenant_id;
    update odl_control.migrations as g set state = 'flipped' where g.migration_id = flip_tenant.migration_id;
end
$$;

do $$
declare
    t text;
begin
    foreach t in array array['regions', 'tenants', 'migration_transitions', 'migrations', 'migration_log'] loop
        execute format('alter table odl_control.%I owner to odl_control_owner', t);
        execute format('revoke all on odl_control.%I from public', t);
        execute format('grant select on odl_control.%I to odl_control_router', t);
    end loop;
    foreach t in array array['tenants', 'migrations', 'migration_log'] loop
        execute format('alter table odl_control.%I enable row level security', t);
        execute format('alter table odl_control.%I force row level security', t);
        execute format(
            'create policy router_reads on odl_control.%I for select to odl_control_router using (true)', t
        );
        execute format(
            'create policy owner_writes on odl_control.%I to odl_control_owner using (true) with check (true)', t
        );
        execute format(
            'comment on policy router_reads on odl_control.%I is %L', t,
            'The router reads every tenant''s row (it routes them all); no policy lets it write one'
        );
        execute format(
            'comment on policy owner_writes on odl_control.%I is %L', t,
            'The owner''s functions (register_tenant, plan_migration, advance_migration, flip_tenant) write'
        );
    end loop;
end
$$;
alter view odl_control.region_counts owner to odl_control_owner;
revoke all on odl_control.region_counts from public;
grant select on odl_control.region_counts to odl_control_router;
alter function odl_control.migration_step() owner to odl_control_owner;
alter function odl_control.migration_logged() owner to odl_control_owner;
alter function odl_control.tenant_map_guard() owner to odl_control_owner;
alter function odl_control.flip_tenant(bigint) owner to odl_control_owner;
alter function odl_control.register_tenant(text, text) owner to odl_control_owner;
alter function odl_control.plan_migration(text, text, text) owner to odl_control_owner;
alter function odl_control.advance_migration(bigint, text, jsonb) owner to odl_control_owner;
revoke all on function
odl_control.migration_step(), odl_control.migration_logged(), odl_control.tenant_map_guard(),
odl_control.flip_tenant(bigint), odl_control.register_tenant(text, text),
odl_control.plan_migration(text, text, text), odl_control.advance_migration(bigint, text, jsonb)
from public;
grant execute on function
odl_control.flip_tenant(bigint), odl_control.register_tenant(text, text),
odl_control.plan_migration(text, text, text), odl_control.advance_migration(bigint, text, jsonb)
to odl_control_router;
alter schema odl_control owner to odl_control_owner;
grant usage on schema odl_control to odl_control_router;

commit;
