-- Frozen by tools/srcguard rework: tenancy_api as released in @v0.1.0.
-- Deploy odl-db:tenancy_api to pg
-- requires: tenancy
-- requires: audit_api

begin;

-- sql/020_tenancy_api/admin.sql as released in @v0.1.0
-- Tenants and users are created by odl_admin. Inside, each function acts
-- as the new row's tenant, because RLS admits writes only for the current
-- tenant, and then restores the caller's context. The admin is no user of
-- the tenant, so their audit events have no actor.

create or replace function odl.odl_create_tenant(name text, region text)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller_tenant text := odl.odl_current_tenant_id();
    caller_user text := odl.odl_current_user_id();
    new_id text := odl.odl_ulid();
begin
    perform odl.set_session_context(new_id, null);
    insert into odl.tenants (tenant_id, name, region)
    values (new_id, odl_create_tenant.name, odl_create_tenant.region);
    perform odl.set_session_context(caller_tenant, caller_user);
    perform odl.audit_append_as(
        new_id, null, 'tenant.created',
        jsonb_build_object('name', odl_create_tenant.name, 'region', odl_create_tenant.region)
    );
    return new_id;
end
$$;

revoke all on function odl.odl_create_tenant(text, text) from public;
grant execute on function odl.odl_create_tenant(text, text) to odl_admin;
comment on function odl.odl_create_tenant(text, text) is
'Creates a tenant in region US, EU or APAC and returns its ULID (odl_admin)';

create or replace function odl.odl_create_user(
    tenant_id text,
    email text,
    role text,
    mfa_enabled boolean default true,
    agent text default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller_tenant text := odl.odl_current_tenant_id();
    caller_user text := odl.odl_current_user_id();
    new_id text := odl.odl_ulid();
begin
    perform odl.set_session_context(odl_create_user.tenant_id, null);
    if not exists (select from odl.tenants as t where t.tenant_id = odl_create_user.tenant_id) then
        raise exception using
            errcode = 'ODC03',
            message = 'tenant does not exist',
            detail = format('tenant_id %s', odl_create_user.tenant_id);
    end if;
    if not odl_create_user.mfa_enabled and exists (
        select from odl.rbac_roles as r
        where r.role_id = odl_create_user.role and r.mfa_required
    ) then
        raise exception using
            errcode = 'ODC04',
            message = 'role requires multi-factor authentication',
            detail = format('role %s, mfa_enabled false', odl_create_user.role);
    end if;
    if odl_create_user.agent is not null and not exists (
        select from odl.rbac_agent_roles as a
        where a.agent = odl_create_user.agent and a.role_id = odl_create_user.role
    ) then
        raise exception using
            errcode = 'ODR02',
            message = format('a %s may not act as %s', odl_create_user.agent, odl_create_user.role),
            hint = 'odl.rbac_agent_roles lists the roles each kind of agent may take.';
    end if;
    insert into odl.users (tenant_id, user_id, email, role, mfa_enabled, agent)
    values (
        odl_create_user.tenant_id, new_id, odl_create_user.email,
        odl_create_user.role, odl_create_user.mfa_enabled, odl_create_user.agent
    );
    perform odl.set_session_context(caller_tenant, caller_user);
    -- The e-mail address stays out of the ledger, which can never erase it.
    perform odl.audit_append_as(
        odl_create_user.tenant_id, null, 'user.created',
        jsonb_strip_nulls(jsonb_build_object(
            'user_id', new_id, 'role', odl_create_user.role, 'mfa_enabled', odl_create_user.mfa_enabled,
            'agent', odl_create_user.agent
        ))
    );
    return new_id;
end
$$;

revoke all on function odl.odl_create_user(text, text, text, boolean, text) from public;
grant execute on function odl.odl_create_user(text, text, text, boolean, text) to odl_admin;
comment on function odl.odl_create_user(text, text, text, boolean, text) is
'Creates a user of a tenant with a coarse role from odl.rbac_roles and returns its ULID (odl_admin); '
'ODC04 when the role requires MFA and mfa_enabled is false. An AI agent names its kind (odl.rbac_agents) in agent '
'and takes a role that kind may take (else ODR02)';
-- sql/020_tenancy_api/odl_create_project.sql as released in @v0.1.0
create or replace function odl.odl_create_project(
    name text,
    phase text default 'design',
    classification text default 'internal'
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    new_id text := odl.odl_ulid();
begin
    insert into odl.projects (tenant_id, project_id, name, phase, classification, created_by)
    values (
        context.tenant_id, new_id, odl_create_project.name, odl_create_project.phase,
        odl_create_project.classification, context.user_id
    );
    perform odl.audit_append(
        'project.created',
        jsonb_build_object(
            'name', odl_create_project.name, 'phase', odl_create_project.phase,
            'classification', odl_create_project.classification
        ),
        new_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_create_project(text, text, text) from public;
grant execute on function odl.odl_create_project(text, text, text) to odl_app;
comment on function odl.odl_create_project(text, text, text) is
'Creates a project in the current tenant, owned by the acting user, and returns its ULID';
-- sql/020_tenancy_api/project_summary.sql as released in @v0.1.0
create or replace view odl.project_summary
with (security_invoker = true)
as
select
    p.tenant_id,
    t.name as tenant_name,
    t.region,
    p.project_id,
    p.name as project_name,
    p.phase,
    p.classification,
    u.email as created_by_email,
    p.created_at
from odl.projects as p
inner join odl.tenants as t on p.tenant_id = t.tenant_id
inner join odl.users as u on p.tenant_id = u.tenant_id and p.created_by = u.user_id;

revoke all on odl.project_summary from public;
grant select on odl.project_summary to odl_analyst, odl_app;
comment on view odl.project_summary is
'Projects of the current tenant with their creator; runs with the reader''s rights, so RLS applies';

call odl.adopt_objects();

commit;
