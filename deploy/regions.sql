-- Deploy odl-db:regions to pg
-- requires: identity tenancy
-- Data residency: this database serves one region (US, EU or APAC), named
-- at deploy time with `sqitch deploy --set region=EU`; without it, the
-- database serves every region (one cluster, as before) and has no region
-- setting. A tenant on its
-- way to another region is recorded in odl.tenant_departures until its
-- rows are purged here.

begin;

alter table odl.settings add constraint settings_region_valid
check (name <> 'region' or value in ('US', 'EU', 'APAC'));
comment on constraint settings_region_valid on odl.settings is
'The region setting names a residency region; a database without it serves every region';

-- Only a regional database has the setting, so that deploying this change
-- onto a database that serves every region changes no row.
\if :{?region}
insert into odl.settings (name, value, description) values
(
    'region', upper(:'region'),
    'The residency region this database serves (US, EU or APAC; no row: every region). Set at deploy time '
    '(sqitch deploy --set region=EU); tenants of other regions are refused (ODW01, ODW03)'
);
\endif

create table odl.tenant_departures (
    tenant_id odl.ulid primary key references odl.tenants (tenant_id),
    target_region text not null,
    migration_id bigint not null,
    frozen_at timestamptz not null default now(),
    constraint tenant_departures_region_valid check (target_region in ('US', 'EU', 'APAC'))
);
comment on table odl.tenant_departures is
'Tenants being moved to another region: while a tenant has a row here, its read-write transactions are refused '
'(ODW04); the row goes when the tenant''s rows are purged from this database';
comment on column odl.tenant_departures.target_region is 'The region the tenant moves to';
comment on column odl.tenant_departures.migration_id is
'The migration in the control plane''s log (odl_control.migrations)';
comment on column odl.tenant_departures.frozen_at is 'When writes of the tenant stopped here';
comment on constraint tenant_departures_region_valid on odl.tenant_departures is 'A residency region';
alter table odl.tenant_departures enable row level security;
alter table odl.tenant_departures force row level security;
create policy tenant_isolation on odl.tenant_departures
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
-- odl_set_context() looks a departure up on every read-write context; as
-- the owner it reads without evaluating the context's MAC a second time.
create policy owner_checks_departures on odl.tenant_departures
for select to odl_owner
using (true);
comment on policy owner_checks_departures on odl.tenant_departures is
'The owner (odl_set_context()) reads which tenants are leaving without computing the context; other roles see none';
revoke all on odl.tenant_departures from public;

call odl.adopt_objects();

commit;
