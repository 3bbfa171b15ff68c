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
