-- Role assignments. The tenant's administrator assigns any role anywhere;
-- other users assign at a node where they hold an approver role with A on
-- governance, never super_user and never to themselves.

create or replace function odl.require_assigner(user_id text, node_id text, role text)
returns void
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
begin
    perform odl.require_node(require_assigner.node_id);
    if not exists (select from odl.rbac_roles as r where r.role_id = require_assigner.role) then
        raise exception using
            errcode = 'ODR07',
            message = format('role %s does not exist', quote_nullable(require_assigner.role)),
            hint = 'Roles are listed in odl.rbac_roles.';
    end if;
    if odl.is_tenant_admin() then
        return;
    end if;
    if require_assigner.role = 'super_user' or require_assigner.user_id = context.user_id then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: only the tenant''s administrator grants super_user or grants to themselves',
            detail = format('user_id %s, role %s', require_assigner.user_id, require_assigner.role);
    end if;
    if not exists (
        select from odl.user_roles(context.user_id, require_assigner.node_id) as r
        inner join odl.rbac_roles as x on r.role_id = x.role_id
        where r.usable and x.approver
    ) then
        raise exception using
            errcode = 'ODR06',
            message = 'only a holder of an approver role assigns roles here',
            detail = format('user_id %s, node_id %s', context.user_id, require_assigner.node_id);
    end if;
    perform odl.require_right(require_assigner.node_id, 'governance', 'A', 'assigning a role');
end
$$;

revoke all on function odl.require_assigner(text, text, text) from public;
comment on function odl.require_assigner(text, text, text) is
'Raises unless the context''s user may assign or revoke the role for the user at the node';

create or replace function odl.odl_assign_role(
    user_id text,
    node_id text,
    role text,
    valid_from timestamptz default now(),
    valid_until timestamptz default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    assignee record;
    new_id text := odl.odl_ulid();
begin
    perform odl.require_assigner(odl_assign_role.user_id, odl_assign_role.node_id, odl_assign_role.role);
    select u.mfa_enabled, u.agent, r.mfa_required, ar.role_id is not null as agent_may into assignee
    from odl.users as u
    cross join odl.rbac_roles as r
    left join odl.rbac_agent_roles as ar on u.agent = ar.agent and r.role_id = ar.role_id
    where u.user_id = odl_assign_role.user_id and r.role_id = odl_assign_role.role;
    if not found then
        raise exception using
            errcode = 'ODC02',
            message = 'user does not belong to tenant',
            detail = format('tenant_id %s, user_id %s', context.tenant_id, odl_assign_role.user_id);
    end if;
    if assignee.mfa_required and not assignee.mfa_enabled then
        raise exception using
            errcode = 'ODC04',
            message = 'role requires multi-factor authentication, which the user does not have',
            detail = format('user_id %s, role %s', odl_assign_role.user_id, odl_assign_role.role);
    end if;
    if assignee.agent is not null and not assignee.agent_may then
        raise exception using
            errcode = 'ODR02',
            message = format('a %s may not act as %s', assignee.agent, odl_assign_role.role),
            hint = 'odl.rbac_agent_roles lists the roles each kind of agent may take.';
    end if;
    insert into odl.rbac_assignments (
        tenant_id, assignment_id, user_id, node_id, role_id, valid_from, valid_until, granted_by
    )
    values (
        context.tenant_id, new_id, odl_assign_role.user_id, odl_assign_role.node_id, odl_assign_role.role,
        coalesce(odl_assign_role.valid_from, now()), odl_assign_role.valid_until, context.user_id
    );
    perform odl.audit_append(
        'role.assigned',
        jsonb_build_object(
            'assignment_id', new_id, 'user_id', odl_assign_role.user_id, 'node_id', odl_assign_role.node_id,
            'role', odl_assign_role.role, 'valid_from', coalesce(odl_assign_role.valid_from, now()),
            'valid_until', odl_assign_role.valid_until
        )
    );
    return new_id;
end
$$;

revoke all on function odl.odl_assign_role(text, text, text, timestamptz, timestamptz) from public;
grant execute on function odl.odl_assign_role(text, text, text, timestamptz, timestamptz) to odl_app;
comment on function odl.odl_assign_role(text, text, text, timestamptz, timestamptz) is
'Gives a user a role at a node, from valid_from until valid_until (open when null), and returns the assignment''s '
'ULID; ODC04 when the role needs MFA the user lacks, ODR02 for a role the user''s kind of agent may not take';

create or replace function odl.odl_revoke_role(user_id text, node_id text, role text)
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    revoked text [];
begin
    perform odl.require_assigner(odl_revoke_role.user_id, odl_revoke_role.node_id, odl_revoke_role.role);
    with gone as (
        update odl.rbac_assignments as a
        set revoked_at = now(), revoked_by = context.user_id
        where a.tenant_id = context.tenant_id and a.user_id = odl_revoke_role.user_id
            and a.node_id = odl_revoke_role.node_id and a.role_id = odl_revoke_role.role
            and a.revoked_at is null and (a.valid_until is null or a.valid_until > now())
        returning a.assignment_id
    )
    select coalesce(array_agg(g.assignment_id::text order by g.assignment_id), '{}') into revoked from gone as g;
    if cardinality(revoked) > 0 then
        perform odl.audit_append(
            'role.revoked',
            jsonb_build_object(
                'assignment_ids', revoked, 'user_id', odl_revoke_role.user_id, 'node_id', odl_revoke_role.node_id,
                'role', odl_revoke_role.role
            )
        );
    end if;
    return cardinality(revoked);
end
$$;

revoke all on function odl.odl_revoke_role(text, text, text) from public;
grant execute on function odl.odl_revoke_role(text, text, text) to odl_app;
comment on function odl.odl_revoke_role(text, text, text) is
'Ends the user''s current and future assignments of the role at the node; returns how many it ended';
