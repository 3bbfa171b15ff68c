-- Loads policy/access.json into the odl.rbac_* tables. The file is the one
-- place the policy is written; a deploy replaces the tables' contents with
-- it in one transaction. Rows that tenants use (a role someone holds, a
-- phase a project is in) cannot disappear: their foreign keys refuse.

create or replace function odl.rights_normalized(rights text)
returns text
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    normalized text;
begin
    select coalesce(string_agg(r.right_code, '' order by r.position), '') into normalized
    from odl.rbac_rights as r
    where strpos(rights_normalized.rights, r.right_code) > 0;
    if length(normalized) <> length(rights_normalized.rights) or rights_normalized.rights is null then
        raise exception using
            errcode = '22023',
            message = format('rights %L hold an unknown or repeated code', rights_normalized.rights),
            hint = 'Rights are written with the codes of odl.rbac_rights, each once.';
    end if;
    return normalized;
end
$$;

revoke all on function odl.rights_normalized(text) from public;
comment on function odl.rights_normalized(text) is
'The rights codes of a string in their canonical order (RWPAXS); 22023 for an unknown or repeated code';

create or replace procedure odl.load_access_policy(source text)
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    policy constant jsonb := source::jsonb;
begin
    -- Rows that only refer to others go first, so that the referenced rows
    -- can be replaced. Orders (rank, depth, position) are unique, so rows
    -- take their new place negated first.
    delete from odl.rbac_set_rights;
    delete from odl.rbac_role_sets;
    delete from odl.rbac_role_overrides;
    delete from odl.rbac_agent_roles;
    delete from odl.rbac_approval_sections;
    delete from odl.rbac_phase_gates;
    delete from odl.rbac_actions;
    delete from odl.rbac_section_keys;
    delete from odl.rbac_classified_parts;

    insert into odl.classification_levels as t (level, rank)
    select e.value, -e.ordinality from jsonb_array_elements_text(policy -> 'classification_levels') with ordinality as e
    on conflict (level) do update set rank = excluded.rank;
    delete from odl.classification_levels where rank > 0;
    update odl.classification_levels set rank = -rank;

    -- json_each, unlike jsonb_each, keeps the file's order.
    delete from odl.rbac_rights;
    insert into odl.rbac_rights (right_code, meaning, position)
    select e.key, e.value #>> '{}', e.ordinality
    from json_each(source::json -> 'rights') with ordinality as e (key, value, ordinality);

    insert into odl.hierarchy_levels as t (level, depth)
    select e.value, -e.ordinality from jsonb_array_elements_text(policy -> 'hierarchy_levels') with ordinality as e
    on conflict (level) do update set depth = excluded.depth;
    delete from odl.hierarchy_levels where depth > 0;
    update odl.hierarchy_levels set depth = -depth;

    insert into odl.rbac_sections as t (section, position, classification)
    select e.key, -e.ordinality, e.value #>> '{}'
    from json_each(source::json -> 'sections') with ordinality as e (key, value, ordinality)
    on conflict (section) do update set position = excluded.position, classification = excluded.classification;
    delete from odl.rbac_sections where position > 0;
    update odl.rbac_sections set position = -position;

    insert into odl.rbac_section_keys (key, section)
    select s.section, s.section from odl.rbac_sections as s
    union all
    select k.value, policy #>> '{envelope,section}' from jsonb_array_elements_text(policy #> '{envelope,keys}') as k;

    insert into odl.rbac_classified_parts (pointer, classification)
    select e.key, e.value #>> '{}' from jsonb_each(policy -> 'classified_parts') as e;

    insert into odl.rbac_permission_sets (set_id)
    select e.key from jsonb_each(policy -> 'permission_sets') as e
    on conflict (set_id) do nothing;
    delete from odl.rbac_permission_sets as s where not policy -> 'permission_sets' ? s.set_id;

    insert into odl.rbac_roles as t (role_id, mfa_required, approver, clearance, notes)
    select e.key, (e.value ->> 'mfa')::boolean, (e.value ->> 'approver')::boolean, e.value ->> 'clearance', e.value ->> 'notes'
    from jsonb_each(policy -> 'roles') as e
    on conflict (role_id) do update
    set mfa_required = excluded.mfa_required, approver = excluded.approver,
        clearance = excluded.clearance, notes = excluded.notes;
    delete from odl.rbac_roles as r where not policy -> 'roles' ? r.role_id;

    -- "*" stands for every section; a section named beside it wins.
    insert into odl.rbac_set_rights (set_id, section, rights)
    select e.key, s.section, odl.rights_normalized(coalesce(e.value ->> s.section, e.value ->> '*'))
    from jsonb_each(policy -> 'permission_sets') as e
    cross join odl.rbac_sections as s
    where e.value ? s.section or e.value ? '*';

    insert into odl.rbac_role_sets (role_id, set_id)
    select e.key, s.value from jsonb_each(policy -> 'roles') as e
    cross join lateral jsonb_array_elements_text(e.value -> 'sets') as s;

    -- A role's overrides add to its sets' rights; "*" is every section,
    -- and again a section named beside it wins.
    insert into odl.rbac_role_overrides (role_id, section, rights)
    select e.key, s.section, odl.rights_normalized(
        coalesce(e.value #>> array['overrides', s.section], e.value #>> '{overrides,*}')
    )
    from jsonb_each(policy -> 'roles') as e
    cross join odl.rbac_sections as s
    where e.value -> 'overrides' ? s.section or e.value -> 'overrides' ? '*';

    insert into odl.rbac_agents (agent)
    select e.key from jsonb_each(policy -> 'agents') as e
    on conflict (agent) do nothing;
    delete from odl.rbac_agents as a where not policy -> 'agents' ? a.agent;
    insert into odl.rbac_agent_roles (agent, role_id)
    select e.key, r.value from jsonb_each(policy -> 'agents') as e
    cross join lateral jsonb_array_elements_text(e.value) as r;

    insert into odl.rbac_approval_sections (section)
    select e.value from jsonb_array_elements_text(policy -> 'approval_sections') as e;

    insert into odl.project_phases as t (phase, position)
    select e.value, -e.ordinality from jsonb_array_elements_text(policy -> 'phases') with ordinality as e
    on conflict (phase) do update set position = excluded.position;
    delete from odl.project_phases where position > 0;
    update odl.project_phases set position = -position;

    insert into odl.rbac_phase_gates (phase, section, mode, exempt_roles)
    select p.key, g.key, g.value ->> 'mode',
        array(select jsonb_array_elements_text(g.value -> 'exempt'))
    from jsonb_each(policy -> 'phase_gates') as p
    cross join lateral jsonb_each(p.value) as g;

    insert into odl.rbac_actions (action, section, rights)
    select e.key, e.value ->> 'section', odl.rights_normalized(e.value ->> 'rights')
    from jsonb_each(policy -> 'actions') as e;

    -- Exempt roles are an array, so no foreign key checks them.
    perform from odl.rbac_phase_gates as g, unnest(g.exempt_roles) as r (role_id)
    where not exists (select from odl.rbac_roles as x where x.role_id = r.role_id);
    if found then
        raise exception using errcode = '23503', message = 'a phase gate exempts a role that does not exist';
    end if;

    refresh materialized view odl.rbac_role_rights;
    -- Every API call plans against these small tables: without statistics
    -- the planner guesses them large (and would even JIT-compile).
    analyze odl.classification_levels, odl.rbac_rights, odl.rbac_sections, odl.rbac_section_keys,
        odl.rbac_classified_parts, odl.rbac_roles, odl.rbac_permission_sets, odl.rbac_set_rights,
        odl.rbac_role_sets, odl.rbac_role_overrides, odl.rbac_agents, odl.rbac_agent_roles,
        odl.rbac_approval_sections, odl.project_phases, odl.rbac_phase_gates, odl.rbac_actions,
        odl.hierarchy_levels, odl.rbac_role_rights;
end
$$;

revoke all on procedure odl.load_access_policy(text) from public;
comment on procedure odl.load_access_policy (text) is
'Replaces the access policy with the one in the JSON text (policy/access.json); run by the change policy_load';
