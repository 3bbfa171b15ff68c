-- Explaining and checking rights: what a user holds on a section at a node
-- or project, why, and the check that actions (X, S) call.

create or replace function odl.odl_effective_rights(user_id text, node_or_project text, section text)
returns text
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    scope record;
    held text;
begin
    perform odl.require_context();
    scope := odl.scope_of(odl_effective_rights.node_or_project);
    select r.rights into held
    from odl.user_rights(odl_effective_rights.user_id, scope.node_id) as r
    where r.section = odl_effective_rights.section;
    if not found then
        raise exception using
            errcode = '22023',
            message = format('%s is no section', quote_nullable(odl_effective_rights.section)),
            hint = 'Sections are listed in odl.rbac_sections.';
    end if;
    return held;
end
$$;

revoke all on function odl.odl_effective_rights(text, text, text) from public;
grant execute on function odl.odl_effective_rights(text, text, text) to odl_app, odl_analyst;
comment on function odl.odl_effective_rights(text, text, text) is
'The rights (e.g. RWX, in the order RWPAXS) a user holds on a section at a node or project; '
'odl_explain_access() says why';

create or replace function odl.odl_explain_access(user_id text, node_or_project text, section text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    scope record;
    path text [];
    deciding text;
begin
    perform odl.require_context();
    scope := odl.scope_of(odl_explain_access.node_or_project);
    select n.path into path from odl.nodes as n where n.node_id = scope.node_id;
    select r.held_at into deciding from odl.user_roles(odl_explain_access.user_id, scope.node_id) as r limit 1;
    return jsonb_build_object(
        'user_id', odl_explain_access.user_id,
        'project_id', scope.project_id,
        'phase', scope.phase,
        'node_id', scope.node_id,
        'rule', 'The assignments in force at the nearest node up the path where the user holds any decide; '
            'lower ones override higher ones. W, P and A imply R.',
        'path', (
            select coalesce(jsonb_agg(jsonb_build_object('node_id', n.node_id, 'level', n.level, 'name', n.name)
                order by p.ordinality), '[]')
            from unnest(path) with ordinality as p (node_id, ordinality)
            inner join odl.nodes as n on p.node_id = n.node_id
        ),
        'deciding_node_id', deciding,
        'assignments', (
            select coalesce(jsonb_agg(jsonb_build_object(
                'assignment_id', a.assignment_id, 'node_id', a.node_id, 'role', a.role_id,
                'valid_from', a.valid_from, 'valid_until', a.valid_until, 'revoked_at', a.revoked_at,
                'status', case
                    when a.revoked_at is not null then 'revoked'
                    when a.valid_from > now() then 'not yet valid'
                    when a.valid_until <= now() then 'expired'
                    when a.node_id is distinct from deciding then 'overridden by a lower node'
                    else coalesce(u.why_unusable, 'applies')
                end,
                'rights', case when u.usable then (
                    select jsonb_object_agg(rr.section, rr.rights)
                    from odl.rbac_role_rights as rr
                    where rr.role_id = a.role_id and rr.rights <> ''
                        and (odl_explain_access.section is null or rr.section = odl_explain_access.section)
                ) end
            ) order by array_position(path, a.node_id::text), a.role_id, a.valid_from), '[]')
            from odl.rbac_assignments as a
            left join odl.user_roles(odl_explain_access.user_id, scope.node_id) as u
                on a.assignment_id = u.assignment_id
            where a.user_id = odl_explain_access.user_id and a.node_id = any(path)
        ),
        'rights', (
            select jsonb_object_agg(r.section, r.rights)
            from odl.user_rights(odl_explain_access.user_id, scope.node_id) as r
            where odl_explain_access.section is null or r.section = odl_explain_access.section
        ),
        'phase_gates', (
            select coalesce(jsonb_agg(jsonb_build_object(
                'section', g.section, 'mode', g.mode, 'exempt_roles', g.exempt_roles
            ) order by g.section), '[]')
            from odl.rbac_phase_gates as g
            where g.phase = scope.phase
                and (odl_explain_access.section is null or g.section = odl_explain_access.section)
        ),
        'approval_sections', (
            select coalesce(jsonb_agg(a.section order by a.section), '[]')
            from odl.rbac_approval_sections as a
            where odl_explain_access.section is null or a.section = odl_explain_access.section
        )
    );
end
$$;

revoke all on function odl.odl_explain_access(text, text, text) from public;
grant execute on function odl.odl_explain_access(text, text, text) to odl_app, odl_analyst;
comment on function odl.odl_explain_access(text, text, text) is
'Why a user holds the rights they do at a node or project (on one section, or all): the path, every '
'assignment on it with its status, the resulting rights, and the phase gates and approvals that apply';

create or replace function odl.odl_check_action(node_or_project text, action text)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    needed record;
begin
    select a.section, a.rights into needed from odl.rbac_actions as a where a.action = odl_check_action.action;
    if not found then
        raise exception using
            errcode = '22023',
            message = format('%s is no action', quote_nullable(odl_check_action.action)),
            hint = 'Actions are listed in odl.rbac_actions.';
    end if;
    perform odl.require_right(odl_check_action.node_or_project, needed.section, needed.rights, odl_check_action.action);
end
$$;

revoke all on function odl.odl_check_action(text, text) from public;
grant execute on function odl.odl_check_action(text, text) to odl_app;
comment on function odl.odl_check_action(text, text) is
'Raises ODR01 unless the context''s user may perform the action (odl.rbac_actions: e.g. run_analysis needs X '
'on analysis) at the node or project; functions that stand for actions call it first';
