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
