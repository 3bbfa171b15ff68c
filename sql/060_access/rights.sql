-- Who may do what where. A user's roles at a node are the assignments
-- in force at the nearest node on the way up from it (the node itself,
-- then its parent, up to the PORTFOLIO) where the user holds any: a lower
-- assignment overrides every higher one, and assignments outside their
-- window or revoked are as if absent. A role whose MFA the user lacks, or
-- that the user's kind of agent may not take, still overrides but gives
-- nothing. Rights are the union of the roles' odl.rbac_role_rights.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODR01', 'permission_denied', 'The acting user lacks the right the operation needs'),
('ODR02', 'agent_role_not_allowed', 'The kind of AI agent may not act under the role'),
('ODR03', 'change_not_pending', 'The change request does not exist or was already decided'),
('ODR04', 'self_approval', 'The author of a change cannot decide it'),
('ODR05', 'stale_change', 'The document changed where the change request writes since it was proposed'),
('ODR06', 'approver_required', 'Only a human holding an approver role may decide a change'),
('ODR07', 'unknown_role', 'The role does not exist'),
('ODG01', 'phase_gate', 'The project''s phase locks a section the change writes'),
('ODG02', 'phase_order', 'Phases move one step forward at a time'),
('ODH01', 'invalid_hierarchy', 'The node level does not fit under its parent'),
('ODH02', 'unknown_node', 'The node or project does not exist')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.scope_of(node_or_project text, out node_id text, out project_id text, out phase text)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    select p.node_id, p.project_id, p.phase into scope_of.node_id, scope_of.project_id, scope_of.phase
    from odl.projects as p
    where p.project_id = scope_of.node_or_project;
    if found then
        return;
    end if;
    select n.node_id into scope_of.node_id from odl.nodes as n where n.node_id = scope_of.node_or_project;
    if not found then
        raise exception using
            errcode = 'ODH02',
            message = 'node or project does not exist',
            detail = format('id %s', quote_nullable(scope_of.node_or_project));
    end if;
end
$$;

revoke all on function odl.scope_of(text) from public;
comment on function odl.scope_of(text) is
'The node whose rights apply to a node or project, with the project and its phase; ODH02 when neither exists';

-- The rights functions run on every API call: PL/pgSQL keeps their plans
-- for the session, where SQL functions with a search_path are planned on
-- every call.
create or replace function odl.user_roles(user_id text, node_id text, at timestamptz default now())
returns table (role_id text, assignment_id text, held_at text, usable boolean, why_unusable text)
language plpgsql
stable
rows 2
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
begin
    return query
    with in_force as (
        select a.role_id, a.assignment_id, a.node_id, array_position(n.path, a.node_id::text) as depth
        from odl.nodes as n
        inner join odl.rbac_assignments as a on a.tenant_id = n.tenant_id and a.node_id = any(n.path)
        where n.node_id = user_roles.node_id
            and a.user_id = user_roles.user_id
            and a.revoked_at is null
            and a.valid_from <= user_roles.at
            and (a.valid_until is null or user_roles.at < a.valid_until)
    )
    select
        f.role_id,
        f.assignment_id::text,
        f.node_id::text,
        (r.mfa_required <= u.mfa_enabled) and (u.agent is null or ar.role_id is not null),
        case
            when r.mfa_required and not u.mfa_enabled then 'mfa_required'
            when u.agent is not null and ar.role_id is null then 'agent_role_not_allowed'
        end
    from in_force as f
    inner join odl.rbac_roles as r on f.role_id = r.role_id
    inner join odl.users as u on u.user_id = user_roles.user_id
    left join odl.rbac_agent_roles as ar on u.agent = ar.agent and f.role_id = ar.role_id
    where f.depth = (select max(x.depth) from in_force as x);
end
$$;

revoke all on function odl.user_roles(text, text, timestamptz) from public;
comment on function odl.user_roles(text, text, timestamptz) is
'The assignments that decide a user''s rights at a node: those in force at the nearest node up the path '
'where the user holds any; usable is false (with the reason) for a role needing MFA the user lacks, or '
'one the user''s kind of agent may not take. Runs as its owner: analysts call it through their views without '
'reading the assignments';

create or replace function odl.role_rights(roles text[])
returns table (section text, rights text, clearance integer)
language plpgsql
stable
rows 17
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    rank integer;
begin
    select coalesce(max(l.rank), 0) into rank
    from odl.rbac_roles as r
    inner join odl.classification_levels as l on r.clearance = l.level
    where r.role_id = any(roles);
    return query
    select
        s.section,
        coalesce(
            (
                select string_agg(c.right_code, '' order by c.position)
                from odl.rbac_rights as c
                where strpos(h.codes, c.right_code) > 0
            ),
            ''
        ),
        rank
    from odl.rbac_sections as s
    left join (
        select rr.section, string_agg(rr.rights, '') as codes
        from odl.rbac_role_rights as rr
        where rr.role_id = any(roles)
        group by rr.section
    ) as h on s.section = h.section;
end
$$;

revoke all on function odl.role_rights(text[]) from public;
comment on function odl.role_rights(text[]) is
'The rights that holding all these roles gives on every section, and the rank of the most sensitive '
'classification they may read';

create or replace function odl.user_rights(user_id text, node_id text)
returns table (section text, rights text, clearance integer)
language plpgsql
stable
rows 17
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    return query
    select r.section, r.rights, r.clearance
    from odl.role_rights(array(
        select u.role_id from odl.user_roles(user_rights.user_id, user_rights.node_id) as u where u.usable
    )) as r;
end
$$;

revoke all on function odl.user_rights(text, text) from public;
comment on function odl.user_rights(text, text) is
'A user''s rights on every section at a node, and the rank of the most sensitive classification they may read';

create or replace function odl.patch_pointers(patch jsonb)
returns text[]
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    return (
        select coalesce(array_agg(distinct p.pointer order by p.pointer), '{}')
        from jsonb_array_elements(case jsonb_typeof(patch) when 'array' then patch else '[]' end) as o (op)
        cross join lateral (values (o.op ->> 'path'), (o.op ->> 'from')) as p (pointer)
        -- What is no JSON pointer is left to the engine, which names it.
        where p.pointer = '' or starts_with(p.pointer, '/')
    );
end
$$;

revoke all on function odl.patch_pointers(jsonb) from public;
comment on function odl.patch_pointers(jsonb) is
'Every JSON pointer a patch''s operations name in path or from (strings that are no pointer left out)';

create or replace function odl.pointer_steps(pointer text)
returns text[]
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    -- RFC 6901: "~1" is "/" and "~0" is "~"; the empty pointer has no step.
    return array(
        select replace(replace(s.step, '~1', '/'), '~0', '~')
        from unnest(string_to_array(substr(pointer, 2), '/')) with ordinality as s (step, n)
        where pointer <> ''
        order by s.n
    );
end
$$;

revoke all on function odl.pointer_steps(text) from public;
comment on function odl.pointer_steps(text) is 'The decoded reference tokens of a JSON pointer';

create or replace function odl.sections_of(pointers text[])
returns text[]
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    -- The empty pointer is every section; a top-level key that is no
    -- section stays as it is, so that nobody holds rights on it.
    if '' = any(pointers) then
        return (select array_agg(s.section order by s.section) from odl.rbac_sections as s);
    end if;
    return (
        select coalesce(array_agg(distinct coalesce(k.section, t.key)), '{}')
        from unnest(pointers) as p (pointer)
        cross join lateral (
            select replace(replace(split_part(p.pointer, '/', 2), '~1', '/'), '~0', '~') as key
        ) as t
        left join odl.rbac_section_keys as k on t.key = k.key
    );
end
$$;

revoke all on function odl.sections_of(text[]) from public;
comment on function odl.sections_of(text[]) is
'The sections that JSON pointers fall in, by their first step (odl.rbac_section_keys); the empty pointer is all';

create or replace function odl.authorize_write(project_id text, pointers text[], mode text)
returns text
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- pointers: what the change writes or reads (every path and from of a
-- patch; a new document's top-level keys). mode: write (a patch), propose
-- (a patch the author wants reviewed) or create (a new document). Returns
-- null to apply, or why the change must wait for an approver; raises when
-- it may not happen at all.
declare
    context record := odl.require_context();
    scope record := odl.scope_of(authorize_write.project_id);
    actor record;
    usable_roles text [];
    blocked text;
    held jsonb;
    clearance integer;
    denied text;
    sections text [];
    gate record;
begin
    if scope.node_id is null then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: the project hangs under no node, so nobody has rights on it',
            detail = format('project_id %s', authorize_write.project_id),
            hint = 'Attach it with odl_attach_project(project_id, node_id).';
    end if;
    select u.mfa_enabled, u.agent into actor from odl.users as u where u.user_id = context.user_id;
    select
        coalesce(array_agg(r.role_id) filter (where r.usable), '{}'),
        string_agg(r.role_id, ', ' order by r.role_id) filter (where r.why_unusable = 'mfa_required')
    into usable_roles, blocked
    from odl.user_roles(context.user_id, scope.node_id) as r;
    if blocked is not null then
        raise exception using
            errcode = 'ODC04',
            message = 'role requires multi-factor authentication, which the user does not have',
            detail = format('user_id %s, roles %s', context.user_id, blocked);
    end if;

    sections := odl.sections_of(authorize_write.pointers);

    select jsonb_object_agg(r.section, r.rights), max(r.clearance) into held, clearance
    from odl.role_rights(usable_roles) as r;
    select string_agg(format('%s (holds %L)', n.section, coalesce(held ->> n.section, '')), ', ' order by n.section)
    into denied
    from unnest(sections) as n (section)
    where coalesce(held ->> n.section, '') !~ case when authorize_write.mode = 'create' then 'R' else '[WP]' end;
    -- A new document changes no content anyone holds: its creator needs W
    -- on meta, which names it, and R on all it holds (audit, for one, is
    -- written by nobody).
    if authorize_write.mode = 'create' and strpos(coalesce(held ->> 'meta', ''), 'W') = 0 then
        denied := concat_ws(', ', format('meta (holds %L, needs W)', coalesce(held ->> 'meta', '')), denied);
    end if;
    if denied is not null then
        raise exception using
            errcode = 'ODR01',
            message = case authorize_write.mode
                when 'create' then 'permission denied: creating a document needs W on meta and R on every section '
                    'it holds; lacking: ' || denied
                else 'permission denied: this change needs W or P on ' || denied
            end,
            detail = format('user_id %s, node_id %s, phase %s', context.user_id, scope.node_id, scope.phase);
    end if;

    -- A part classified above the user's clearance is out of reach, also
    -- for copying, moving or testing it (which would reveal it) and for
    -- writing over it: any pointer within the part, or above it. (A new
    -- document's creator wrote all of it, and overwrites nothing.)
    select string_agg(format('%s (%s)', c.pointer, c.classification), ', ' order by c.pointer) into denied
    from odl.rbac_classified_parts as c
    inner join odl.classification_levels as l on c.classification = l.level
    cross join lateral (select odl.pointer_steps(c.pointer) as steps) as part
    where l.rank > clearance and authorize_write.mode <> 'create'
        and exists (
            select from unnest(authorize_write.pointers) as p (pointer)
            cross join lateral (select odl.pointer_steps(p.pointer) as steps) as touched
            -- The first step decides most pointers cheaply.
            where (p.pointer = '' or replace(replace(split_part(p.pointer, '/', 2), '~1', '/'), '~0', '~')
                in ('*', part.steps[1]))
                and not exists (
                    select from generate_subscripts(part.steps, 1) as i
                    where i <= cardinality(touched.steps) and part.steps[i] not in ('*', touched.steps[i])
                )
        );
    if denied is not null then
        raise exception using
            errcode = 'ODR01',
            message = format('permission denied: the change reaches %s, above the user''s clearance', denied),
            detail = format('user_id %s, node_id %s', context.user_id, scope.node_id);
    end if;

    -- Phase gates bind every role they do not exempt (and no new document).
    -- A change_request gate still admits a change that an approver merges.
    for gate in
        select g.section, g.mode
        from odl.rbac_phase_gates as g
        where g.phase = scope.phase and g.section = any(sections) and authorize_write.mode <> 'create'
            and not g.exempt_roles && usable_roles
        order by g.section
    loop
        if gate.mode = 'locked' or authorize_write.mode <> 'propose' then
            raise exception using
                errcode = 'ODG01',
                message = format('the %s phase locks section %s', scope.phase, gate.section),
                detail = format('project_id %s, gate %s', authorize_write.project_id, gate.mode),
                hint = case gate.mode
                    when 'change_request' then 'In this phase the section changes only through a change request: '
                        'pass propose => true.'
                    else 'No change reaches this section until the project moves to a phase that does not lock it.'
                end;
        end if;
    end loop;

    if authorize_write.mode = 'create' then
        if actor.agent is not null then
            raise exception using
                errcode = 'ODR01',
                message = 'permission denied: an AI agent proposes changes, it does not create documents',
                detail = format('user_id %s, agent %s', context.user_id, actor.agent);
        end if;
        return null;
    end if;
    if exists (select from unnest(sections) as n (section) where strpos(held ->> n.section, 'W') = 0) then
        return 'proposal';
    end if;
    if authorize_write.mode = 'propose' then
        return 'requested';
    end if;
    if actor.agent is not null then
        return 'agent';
    end if;
    if exists (select from odl.rbac_approval_sections as a where a.section = any(sections)) then
        return 'approval_required';
    end if;
    return null;
end
$$;

revoke all on function odl.authorize_write(text, text[], text) from public;
comment on function odl.authorize_write(text, text[], text) is
'Decides a change by the context''s user at the given JSON pointers of a project''s document: null to apply it, '
'else the reason it becomes a change request; raises ODR01 (rights, classified parts), ODG01 (phase gate) or '
'ODC04 (MFA)';

create or replace function odl.require_right(node_or_project text, section text, rights text, what text)
returns text
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- Raises ODR01 unless the context's user holds one of rights on section at
-- the node or project; returns the user's rights there.
declare
    context record := odl.require_context();
    scope record := odl.scope_of(require_right.node_or_project);
    held text;
begin
    select r.rights into held
    from odl.user_rights(context.user_id, scope.node_id) as r
    where r.section = require_right.section;
    if scope.node_id is null or coalesce(held, '') !~ ('[' || require_right.rights || ']') then
        raise exception using
            errcode = 'ODR01',
            message = format(
                'permission denied: %s needs %s on %s', require_right.what,
                array_to_string(regexp_split_to_array(require_right.rights, ''), ' or '), require_right.section
            ),
            detail = format(
                'user_id %s holds %L at %s', context.user_id, coalesce(held, ''),
                coalesce(scope.node_id, 'no node')
            );
    end if;
    return held;
end
$$;

revoke all on function odl.require_right(text, text, text, text) from public;
comment on function odl.require_right(text, text, text, text) is
'Raises ODR01, naming the action, unless the context''s user holds one of the rights on the section there';

create or replace function odl.is_tenant_admin()
returns boolean
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    return exists (
        select from odl.users as u
        inner join odl.current_context as c on u.tenant_id = c.tenant_id and u.user_id = c.user_id
        where u.role = 'super_user' and u.agent is null and u.mfa_enabled
    );
end
$$;

revoke all on function odl.is_tenant_admin() from public;
comment on function odl.is_tenant_admin() is
'Whether the context''s user administers the tenant: a human super_user (coarse role) with MFA';

create or replace function odl.require_node(node_id text)
returns void
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if not exists (select from odl.nodes as n where n.node_id = require_node.node_id) then
        raise exception using
            errcode = 'ODH02',
            message = 'node does not exist',
            detail = format('node_id %s', quote_nullable(require_node.node_id));
    end if;
end
$$;

revoke all on function odl.require_node(text) from public;
comment on function odl.require_node(text) is 'Raises ODH02 unless the node exists in the current tenant';

create or replace function odl.readable_project(project_id text)
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    return exists (
        select from odl.projects as p
        cross join odl.current_context as c
        cross join lateral odl.user_rights(c.user_id, p.node_id) as r
        where p.project_id = readable_project.project_id and strpos(r.rights, 'R') > 0
    );
end
$$;

revoke all on function odl.readable_project(text) from public;
comment on function odl.readable_project(text) is
'Whether the context''s user holds R on some section at the project. Runs as its owner: analysts call it '
'through their views without reading the projects';
