-- A new project hangs under no node, so no assignment gives rights on it
-- yet: creating one is a tenant-level act, decided like the tenant's
-- administration by the user's coarse role (users.role, set by odl_admin).
-- The creator must be a human whose coarse role holds W on meta (the right
-- that names a project's documents) and is usable (MFA where the role needs
-- it). A project starts in the first phase unless the creator's coarse role
-- holds the right that decides phase changes (rbac_actions
-- approve_phase_change: A on governance); later phases are reached through
-- odl_set_project_phase() and an approver.
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
    creator record;
    held jsonb;
    setter record;
    first_phase text;
    new_id text;
begin
    select u.role, u.agent, u.mfa_enabled, r.mfa_required into creator
    from odl.users as u
    inner join odl.rbac_roles as r on u.role = r.role_id
    where u.user_id = context.user_id;
    select jsonb_object_agg(x.section, x.rights) into held from odl.role_rights(array[creator.role]) as x;
    if creator.agent is not null or (creator.mfa_required and not creator.mfa_enabled)
        or strpos(coalesce(held ->> 'meta', ''), 'W') = 0 then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: creating a project needs a human user whose role holds W on meta',
            detail = format(
                'user_id %s, role %s, holds %L on meta%s%s', context.user_id, creator.role,
                coalesce(held ->> 'meta', ''), ', agent ' || creator.agent,
                case when creator.mfa_required and not creator.mfa_enabled then ', role needs MFA' end
            );
    end if;

    select p.phase into first_phase from odl.project_phases as p order by p.position limit 1;
    select a.section, a.rights into setter from odl.rbac_actions as a where a.action = 'approve_phase_change';
    if odl_create_project.phase is distinct from first_phase
        and exists (select from odl.project_phases as p where p.phase = odl_create_project.phase)
        and coalesce(held ->> setter.section, '') !~ ('[' || setter.rights || ']') then
        raise exception using
            errcode = 'ODR01',
            message = format(
                'permission denied: a project starts in %s unless its creator may decide phase changes (%s on %s)',
                first_phase, setter.rights, setter.section
            ),
            detail = format(
                'user_id %s, role %s, phase %s, holds %L on %s', context.user_id, creator.role,
                odl_create_project.phase, coalesce(held ->> setter.section, ''), setter.section
            ),
            hint = 'Create it in the first phase and move it with odl_set_project_phase().';
    end if;

    new_id := odl.odl_ulid();
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
'Creates a project in the current tenant, owned by the acting user, and returns its ULID. Needs a human whose '
'coarse role holds W on meta; a phase after the first needs a role that decides phase changes (ODR01)';
