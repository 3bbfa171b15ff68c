-- Deploy odl-control:control_plane to pg
-- The control plane of the region router: which region each tenant lives
-- in and how to reach that region's database. It holds no tenant data: a
-- tenant id and a region per tenant, and the log of tenant migrations.
-- The map changes only as a step of a verified migration (ODW08), and a
-- migration only moves along its state machine (ODW07).

begin;

create schema odl_control;
comment on schema odl_control is 'odl-db''s control plane: tenant -> region -> connection, and tenant migrations';
revoke all on schema odl_control from public;

create table odl_control.regions (
    region text primary key,
    dsn text not null,
    admin_dsn text,
    constraint regions_region_valid check (region in ('US', 'EU', 'APAC'))
);
comment on table odl_control.regions is 'The regional databases: one per residency region';
comment on column odl_control.regions.dsn is
'libpq connection string of the region''s database for applications (no password: use a pgpass file or a service)';
comment on column odl_control.regions.admin_dsn is
'libpq connection string for migrations (a superuser: the import re-signs the audit chain); null: dsn';
comment on constraint regions_region_valid on odl_control.regions is 'The residency regions odl-db knows';

create table odl_control.tenants (
    tenant_id text primary key,
    region text not null references odl_control.regions (region),
    registered_at timestamptz not null default now(),
    constraint tenants_id_format check (tenant_id ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$')
);
comment on table odl_control.tenants is
'The tenant map: each tenant''s home region. Changed only by a verified migration (odl_control.flip_tenant)';
comment on constraint tenants_id_format on odl_control.tenants is 'A ULID, as the regional databases make them';

-- The state machine as data: the trigger below and the client read it.
create table odl_control.migration_transitions (
    from_state text not null,
    to_state text not null,
    primary key (from_state, to_state)
);
comment on table odl_control.migration_transitions is
'The steps a tenant migration may take: planned, frozen (source refuses writes), copied (rows at the target), '
'verified (counts, digests and audit chain equal), flipped (the map names the target), purged (done); any step '
'before flipped may fail';
insert into odl_control.migration_transitions (from_state, to_state) values
('planned', 'frozen'), ('frozen', 'copied'), ('copied', 'verified'), ('verified', 'flipped'), ('flipped', 'purged'),
('planned', 'failed'), ('frozen', 'failed'), ('copied', 'failed'), ('verified', 'failed');

create table odl_control.migrations (
    migration_id bigint generated always as identity primary key,
    tenant_id text not null references odl_control.tenants (tenant_id),
    source_region text not null references odl_control.regions (region),
    target_region text not null references odl_control.regions (region),
    state text not null default 'planned',
    started_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    detail jsonb not null default '{}',
    constraint migrations_regions_differ check (source_region <> target_region),
    constraint migrations_state_known check (
        state in ('planned', 'frozen', 'copied', 'verified', 'flipped', 'purged', 'failed')
    )
);
create unique index migrations_one_open on odl_control.migrations (tenant_id)
where state not in ('purged', 'failed');
comment on table odl_control.migrations is
'Tenant moves between regions, one row per move, its state and what it found';
comment on column odl_control.migrations.detail is 'Row counts and digests per table, the audit head, the error';
comment on constraint migrations_regions_differ on odl_control.migrations is 'A move changes the region';
comment on constraint migrations_state_known on odl_control.migrations is
'The states of odl_control.migration_transitions';
comment on index odl_control.migrations_one_open is 'A tenant moves once at a time';

create table odl_control.migration_log (
    migration_id bigint not null references odl_control.migrations (migration_id),
    seq integer not null,
    state text not null,
    logged_at timestamptz not null default clock_timestamp(),
    detail jsonb not null default '{}',
    primary key (migration_id, seq)
);
comment on table odl_control.migration_log is 'Every state a migration entered, in order, with what the step found';

create function odl_control.migration_step()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl_control, pg_temp
as $$
begin
    if tg_op = 'UPDATE' then
        if (new.tenant_id, new.source_region, new.target_region, new.started_at)
            is distinct from (old.tenant_id, old.source_region, old.target_region, old.started_at) then
            raise exception using
                errcode = 'ODW07',
                message = 'a migration''s tenant, regions and start never change',
                detail = format('migration_id %s', old.migration_id);
        end if;
        if new.state = old.state then
            return new;
        end if;
        if not exists (
            select from odl_control.migration_transitions as t
            where t.from_state = old.state and t.to_state = new.state
        ) then
            raise exception using
                errcode = 'ODW07',
                message = format('a migration cannot go from %s to %s', old.state, new.state),
                detail = format('migration_id %s', old.migration_id);
        end if;
        new.updated_at := clock_timestamp();
    elsif new.state <> 'planned' then
        raise exception using
            errcode = 'ODW07',
            message = 'a migration starts planned',
            detail = format('state %s', new.state);
    end if;
    return new;
end
$$;
comment on function odl_control.migration_step() is
'Trigger: a migration moves only along odl_control.migration_transitions (ODW07)';

create trigger migrations_step
before insert or update on odl_control.migrations
for each row execute function odl_control.migration_step();

create function odl_control.migration_logged()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl_control, pg_temp
as $$
begin
    if tg_op = 'INSERT' or new.state <> old.state then
        insert into odl_control.migration_log (migration_id, seq, state, detail)
        select
            new.migration_id,
            coalesce(max(l.seq), 0) + 1,
            new.state,
            new.detail
        from odl_control.migration_log as l
        where l.migration_id = new.migration_id;
    end if;
    return null;
end
$$;
comment on function odl_control.migration_logged() is 'Trigger: logs each state a migration enters';

create trigger migrations_logged
after insert or update on odl_control.migrations
for each row execute function odl_control.migration_logged();

create function odl_control.tenant_map_guard()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl_control, pg_temp
as $$
begin
    if new.region is distinct from old.region and not exists (
        select from odl_control.migrations as m
        where m.tenant_id = old.tenant_id and m.state = 'verified'
            and m.source_region = old.region and m.target_region = new.region
    ) then
        raise exception using
            errcode = 'ODW08',
            message = 'a tenant''s region changes only by a verified migration',
            detail = format('tenant_id %s, region %s, new region %s', old.tenant_id, old.region, new.region);
    end if;
    if new.tenant_id is distinct from old.tenant_id then
        raise exception using
            errcode = 'ODW08',
            message = 'a tenant''s id never changes',
            detail = format('tenant_id %s', old.tenant_id);
    end if;
    return new;
end
$$;
comment on function odl_control.tenant_map_guard() is
'Trigger: the tenant map moves a tenant only to the target of its verified migration (ODW08)';

create trigger tenants_map_guard
before update on odl_control.tenants
for each row execute function odl_control.tenant_map_guard();

create function odl_control.flip_tenant(migration_id bigint)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl_control, pg_temp
as $$
declare
    m odl_control.migrations;
begin
    select * into m from odl_control.migrations as g where g.migration_id = flip_tenant.migration_id for update;
    update odl_control.tenants as t set region = m.target_region where t.tenant_id = m.tenant_id;
    update odl_control.migrations as g set state = 'flipped' where g.migration_id = flip_tenant.migration_id;
end
$$;
comment on function odl_control.flip_tenant(bigint) is
'Points the tenant map at the target of a verified migration and marks it flipped, in one transaction';

create view odl_control.region_counts as
select r.region, count(t.tenant_id) as tenants
from odl_control.regions as r
left join odl_control.tenants as t on r.region = t.region
group by r.region;
comment on view odl_control.region_counts is 'How many tenants each region serves';

commit;
