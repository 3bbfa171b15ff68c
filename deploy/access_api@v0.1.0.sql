-- Frozen by tools/srcguard rework: access_api as released in @v0.1.0.
-- Deploy odl-db:access_api to pg
-- requires: access
-- requires: audit_api

begin;

-- sql/060_access/rights.sql as released in @v0.1.0
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
security invoker
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
'one the user''s kind of agent may not take';

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
security invoker
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
'Whether the context''s user holds R on some section at the project';
-- sql/060_access/redaction.sql as released in @v0.1.0
-- Reads return only what the reader may see: a top-level key is removed
-- unless the reader holds R on its section and a clearance at least the
-- section's classification; inside what remains, parts classified above
-- the clearance (odl.rbac_classified_parts) are removed too.

create or replace function odl.jsonb_without(value jsonb, steps text[])
returns jsonb
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- The value without what the steps name; a "*" step is every key or index.
declare
    head constant text := steps[1];
    rest constant text [] := steps[2:];
begin
    if cardinality(steps) = 0 or jsonb_typeof(value) not in ('object', 'array') then
        return value;
    end if;
    if cardinality(rest) = 0 then
        return case
            when head <> '*' and jsonb_typeof(value) = 'object' then value - head
            when head <> '*' then value
            when jsonb_typeof(value) = 'object' then '{}'
            else '[]'
        end;
    end if;
    if head <> '*' then
        return case
            when jsonb_typeof(value) = 'object' and value ? head
                then jsonb_set(value, array[head], odl.jsonb_without(value -> head, rest))
            else value
        end;
    end if;
    if jsonb_typeof(value) = 'object' then
        return (select jsonb_object_agg(e.key, odl.jsonb_without(e.value, rest)) from jsonb_each(value) as e);
    end if;
    return coalesce(
        (
            select jsonb_agg(odl.jsonb_without(e.value, rest) order by e.ordinality)
            from jsonb_array_elements(value) with ordinality as e
        ),
        '[]'
    );
end
$$;

revoke all on function odl.jsonb_without(jsonb, text[]) from public;
comment on function odl.jsonb_without(jsonb, text[]) is
'The value without the member the path of keys names; a * step stands for every key or array index';

create or replace function odl.redact(doc jsonb, node_id text, out document jsonb, out redacted text[])
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    hidden text [];
    clearance integer;
    part record;
begin
    if doc is null then
        return;
    end if;
    select
        coalesce(array_agg(d.key order by d.key) filter (
            where coalesce(strpos(r.rights, 'R'), 0) = 0 or l.rank > r.clearance
        ), '{}'),
        max(r.clearance)
    into hidden, clearance
    from jsonb_object_keys(doc) as d (key)
    left join odl.rbac_section_keys as k on d.key = k.key
    left join odl.rbac_sections as s on k.section = s.section
    left join odl.classification_levels as l on s.classification = l.level
    left join odl.user_rights(context.user_id, redact.node_id) as r on k.section = r.section;

    document := case when cardinality(hidden) > 0 then doc - hidden else doc end;
    redacted := array(select '/' || replace(replace(h, '~', '~0'), '/', '~1') from unnest(hidden) as h);
    -- A part is rebuilt away only where the document holds it: a JSON path
    -- (a * step matches any member or element) finds it first.
    for part in
        select c.pointer, s.steps
        from odl.rbac_classified_parts as c
        inner join odl.classification_levels as l on c.classification = l.level
        cross join lateral (select (string_to_array(c.pointer, '/'))[2:] as steps) as s
        where l.rank > coalesce(clearance, 0)
        order by c.pointer
    loop
        if jsonb_path_exists(
            document,
            (
                'strict $' || (
                    select string_agg(case when x.step = '*' then '.**{1}' else '.' || to_jsonb(x.step)::text end, ''
                        order by x.n)
                    from unnest(part.steps) with ordinality as x (step, n)
                )
            )::jsonpath,
            '{}', true
        ) then
            document := odl.jsonb_without(document, part.steps);
            redacted := redacted || part.pointer;
        end if;
    end loop;
end
$$;

revoke all on function odl.redact(jsonb, text) from public;
comment on function odl.redact(jsonb, text) is
'A document as the context''s user may read it at a node, and the JSON pointers of what was removed '
'(* in a pointer: any key or index)';
-- sql/060_access/hierarchy.sql as released in @v0.1.0
-- The project hierarchy. The tenant's administrator (odl.is_tenant_admin)
-- creates PORTFOLIO nodes; below them, whoever holds W on the hierarchy
-- section at the parent may add nodes and attach projects.

create or replace function odl.odl_create_node(parent_id text, level text, name text)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    parent record;
    parent_path text [] := '{}';
    new_depth integer;
    new_id text := odl.odl_ulid();
begin
    select l.depth into new_depth from odl.hierarchy_levels as l where l.level = odl_create_node.level;
    if not found then
        raise exception using
            errcode = 'ODH01',
            message = format('%s is no hierarchy level', quote_nullable(odl_create_node.level)),
            hint = 'Levels: ' || (select string_agg(l.level, ' > ' order by l.depth) from odl.hierarchy_levels as l);
    end if;
    if parent_id is null then
        if new_depth <> 1 then
            raise exception using
                errcode = 'ODH01',
                message = format('a %s needs a parent node', odl_create_node.level),
                hint = 'Only the top level has no parent.';
        end if;
        if not odl.is_tenant_admin() then
            raise exception using
                errcode = 'ODR01',
                message = 'permission denied: only the tenant''s administrator creates top-level nodes',
                detail = format('user_id %s', context.user_id);
        end if;
    else
        select n.path, l.depth, n.level into parent
        from odl.nodes as n
        inner join odl.hierarchy_levels as l on n.level = l.level
        where n.node_id = odl_create_node.parent_id;
        if not found then
            raise exception using
                errcode = 'ODH02',
                message = 'node or project does not exist',
                detail = format('id %s', odl_create_node.parent_id);
        end if;
        parent_path := parent.path;
        if new_depth <= parent.depth then
            raise exception using
                errcode = 'ODH01',
                message = format('a %s cannot hang under a %s', odl_create_node.level, parent.level),
                hint = 'A node''s level is below its parent''s.';
        end if;
        if not odl.is_tenant_admin() then
            perform odl.require_right(odl_create_node.parent_id, 'hierarchy', 'W', 'adding a node');
        end if;
    end if;

    insert into odl.nodes (tenant_id, node_id, parent_id, level, name, path, created_by)
    values (
        context.tenant_id, new_id, odl_create_node.parent_id, odl_create_node.level, odl_create_node.name,
        parent_path || new_id, context.user_id
    );
    perform odl.audit_append(
        'node.created',
        jsonb_build_object(
            'node_id', new_id, 'parent_id', odl_create_node.parent_id, 'level', odl_create_node.level,
            'name', odl_create_node.name
        )
    );
    return new_id;
end
$$;

revoke all on function odl.odl_create_node(text, text, text) from public;
grant execute on function odl.odl_create_node(text, text, text) to odl_app;
comment on function odl.odl_create_node(text, text, text) is
'Adds a node of the hierarchy under parent_id (null for a PORTFOLIO, which only the tenant''s administrator '
'adds) and returns its ULID; needs W on hierarchy at the parent; ODH01 for a level that does not fit';

create or replace function odl.odl_attach_project(project_id text, node_id text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    project record;
begin
    select p.node_id into project from odl.projects as p where p.project_id = odl_attach_project.project_id for update;
    if not found then
        raise exception using
            errcode = 'ODH02',
            message = 'node or project does not exist',
            detail = format('id %s', quote_nullable(odl_attach_project.project_id));
    end if;
    perform odl.require_node(odl_attach_project.node_id);
    if not odl.is_tenant_admin() then
        -- Moving a project needs the right where it leaves and where it lands.
        perform odl.require_right(odl_attach_project.node_id, 'hierarchy', 'W', 'attaching a project');
        if project.node_id is not null then
            perform odl.require_right(project.node_id, 'hierarchy', 'W', 'moving a project');
        end if;
    end if;
    update odl.projects as p set node_id = odl_attach_project.node_id
    where p.tenant_id = context.tenant_id and p.project_id = odl_attach_project.project_id;
    perform odl.audit_append(
        'project.attached',
        jsonb_build_object('node_id', odl_attach_project.node_id, 'previous_node_id', project.node_id),
        odl_attach_project.project_id
    );
end
$$;

revoke all on function odl.odl_attach_project(text, text) from public;
grant execute on function odl.odl_attach_project(text, text) to odl_app;
comment on function odl.odl_attach_project(text, text) is
'Hangs a project under a node (or moves it there); its rights become those at the node. Needs W on hierarchy '
'at the node, and at the old node when moving, unless the user administers the tenant';
-- sql/060_access/assignments.sql as released in @v0.1.0
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
-- sql/060_access/explain.sql as released in @v0.1.0
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
-- sql/060_access/audit_trail.sql as released in @v0.1.0
-- Analysts read audit through this view. It runs as its owner, under RLS
-- (the context's tenant only), and shows a project's events only to a
-- reader who may read the audit section there (R and a clearance for its
-- classification, confidential); events of no project, such as a user's
-- creation, to a reader who may read audit at some node.

create or replace view odl.audit_trail
as
with reader as (
    select c.user_id from odl.current_context as c
),

readable_nodes as (
    select n.node_id
    from odl.nodes as n
    cross join reader
    cross join lateral odl.user_rights(reader.user_id, n.node_id) as r
    inner join odl.rbac_sections as s on r.section = s.section
    inner join odl.classification_levels as l on s.classification = l.level
    where r.section = 'audit' and strpos(r.rights, 'R') > 0 and r.clearance >= l.rank
)

select
    e.tenant_id,
    e.seq,
    e.created_at,
    e.event_id,
    e.action,
    e.actor_id,
    u.email as actor_email,
    e.project_id,
    e.doc_id,
    e.payload,
    s.classification,
    encode(e.hash, 'hex') as hash
from odl.audit_events as e
inner join odl.rbac_sections as s on s.section = 'audit'
left join odl.users as u on e.tenant_id = u.tenant_id and e.actor_id = u.user_id
left join odl.projects as p on e.tenant_id = p.tenant_id and e.project_id = p.project_id
where
    (e.project_id is null and exists (select from readable_nodes))
    or p.node_id in (select rn.node_id from readable_nodes as rn);

revoke all on odl.audit_trail from public;
grant select on odl.audit_trail to odl_analyst;
-- A view checks EXECUTE on the functions it calls against its reader.
grant execute on function
odl.user_roles(text, text, timestamptz), odl.user_rights(text, text), odl.role_rights(text[])
to odl_analyst;
comment on view odl.audit_trail is
'The current tenant''s audit events that the reader may read (R on audit, with the clearance for its '
'classification), with the actor''s e-mail (odl_analyst)';

call odl.adopt_objects();

commit;
