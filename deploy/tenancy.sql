-- Deploy odl-db:tenancy to pg
-- requires: ulid
-- requires: context
-- requires: policy_load
-- Every tenant-scoped table carries tenant_id, leads its keys with it, and
-- includes it in every foreign key to another tenant-scoped table, so no row
-- can reference another tenant's row and the tables can be distributed by
-- tenant_id.

begin;

create domain odl.ulid as text
constraint ulid_format check (value ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$');
comment on domain odl.ulid is
'A ULID: 26 characters of upper-case Crockford base32 (at most 7ZZZZZZZZZZZZZZZZZZZZZZZZZ)';

-- Tenant-scoped tables.

create table odl.tenants (
    tenant_id odl.ulid primary key default odl.odl_ulid(),
    name text not null,
    region text not null,
    created_at timestamptz not null default now(),
    constraint tenants_region_valid check (region in ('US', 'EU', 'APAC')),
    constraint tenants_name_not_blank check (btrim(name) <> '')
);
comment on table odl.tenants is 'Organisations; every other tenant-scoped row belongs to one';
comment on column odl.tenants.region is 'Data residency region: US, EU or APAC';
comment on constraint tenants_region_valid on odl.tenants is 'Residency regions the platform routes to';
comment on constraint tenants_name_not_blank on odl.tenants is 'A tenant needs a visible name';

create table odl.users (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    user_id odl.ulid not null default odl.odl_ulid(),
    email text not null,
    role text not null references odl.rbac_roles (role_id),
    mfa_enabled boolean not null default true,
    agent text references odl.rbac_agents (agent),
    created_at timestamptz not null default now(),
    primary key (tenant_id, user_id),
    constraint users_email_valid check (email ~ '^[^@[:space:]]+@[^@[:space:]]+$')
);
create unique index users_tenant_id_email_key on odl.users (tenant_id, lower(email));
comment on table odl.users is 'People and AI agents of a tenant';
comment on column odl.users.role is
'Coarse role; rights come from role assignments. A super_user here administers the tenant''s hierarchy and roles';
comment on column odl.users.agent is 'The kind of AI agent this user is (odl.rbac_agents); null for a human';
comment on constraint users_email_valid on odl.users is 'One @ with text on both sides and no spaces';
comment on index odl.users_tenant_id_email_key is 'An e-mail address is unique within a tenant, case-insensitively';

create table odl.projects (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    project_id odl.ulid not null default odl.odl_ulid(),
    name text not null,
    phase text not null default 'design' references odl.project_phases (phase),
    classification text not null default 'internal',
    created_by odl.ulid not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, project_id),
    constraint projects_tenant_id_name_key unique (tenant_id, name),
    constraint projects_created_by_fkey foreign key (tenant_id, created_by)
    references odl.users (tenant_id, user_id),
    constraint projects_classification_valid check (
        classification in ('public', 'internal', 'confidential', 'restricted')
    ),
    constraint projects_name_not_blank check (btrim(name) <> '')
);
create index projects_tenant_id_created_by_idx on odl.projects (tenant_id, created_by);
comment on table odl.projects is 'Energy projects; each has ODL-SD documents';
comment on column odl.projects.phase is 'Lifecycle phase; gates which sections may change';
comment on column odl.projects.classification is 'Data classification: public, internal, confidential or restricted';
comment on constraint projects_classification_valid on odl.projects is 'The four ODL-SD classification levels';
comment on constraint projects_name_not_blank on odl.projects is 'A project needs a visible name';
comment on constraint projects_created_by_fkey on odl.projects is 'The creator is a user of the same tenant';

-- Row-level security: enabled and forced (the owner is bound too). With
-- no context, odl.current_context has no row and no row matches.
alter table odl.tenants enable row level security;
alter table odl.tenants force row level security;
create policy tenant_isolation on odl.tenants
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

-- odl_admin lists tenants (not their users or projects) to administer them.
create policy admin_read on odl.tenants
for select to odl_admin
using (true);

alter table odl.users enable row level security;
alter table odl.users force row level security;
create policy tenant_isolation on odl.users
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

alter table odl.projects enable row level security;
alter table odl.projects force row level security;
create policy tenant_isolation on odl.projects
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

revoke all on odl.tenants, odl.users, odl.projects from public;
grant select on odl.tenants, odl.users, odl.projects to odl_app, odl_analyst;
grant select on odl.tenants to odl_admin;

call odl.adopt_objects();

commit;
