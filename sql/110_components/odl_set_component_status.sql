-- A component's status changes by a patch of its document, written by the
-- one writer (odl.write_patch), so that its history, audit and change feed
-- are those of every other version. The status machine, not the section
-- rights, decides who may: the projector refuses what
-- odl.component_transitions forbids, here as on every other write path.
create or replace function odl.odl_set_component_status(
    doc_id text,
    component_key text,
    status text,
    expected_version integer,
    intent text default null,
    propose boolean default false
)
returns table (
    version integer,
    doc_hash text,
    inverse_patch jsonb,
    document jsonb,
    outcome text,
    change_id text,
    redacted text[]
)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    context record := odl.require_context();
    target record;
    component record;
    pointer text;
    patch jsonb;
    written record;
begin
    select d.project_id, d.version into target from odl.odl_documents as d where d.doc_id = odl_set_component_status.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', quote_nullable(odl_set_component_status.doc_id));
    end if;
    -- Whoever the machine names may change a status; anybody else must at
    -- least read the libraries to learn what the refusal would tell.
    if not exists (
        select from odl.user_roles(context.user_id, (odl.scope_of(target.project_id)).node_id) as r
        inner join odl.component_transitions as t on r.role_id = any(t.roles || t.approver_roles)
        where r.usable
    ) then
        perform odl.require_right(target.project_id, 'libraries', 'R', 'changing a component''s status');
    end if;
    select i.entry, i.group_key, i.status into component
    from odl.component_index as i
    where i.tenant_id = context.tenant_id and i.doc_id = odl_set_component_status.doc_id
        and i.component_key = odl_set_component_status.component_key;
    if not found then
        raise exception using
            errcode = 'ODK05',
            message = 'the document has no library component of that name',
            detail = format('doc_id %s, component %s', odl_set_component_status.doc_id, quote_nullable(odl_set_component_status.component_key));
    end if;
    if component.status is not distinct from odl_set_component_status.status then
        raise exception using
            errcode = 'ODK01',
            message = format(
                'component status cannot change from %s to %s: it is already %s', coalesce(component.status, '(none)'),
                coalesce(odl_set_component_status.status, '(none)'), coalesce(component.status, 'without status')
            ),
            detail = format('component %s', odl_set_component_status.component_key);
    end if;
    pointer := odl.component_pointer(component.entry, component.group_key, odl_set_component_status.component_key);
    patch := case
        when jsonb_typeof(
            (
                select odl.document_resolved(d.tenant_id, d.doc_json, d.external)
                from odl.odl_documents as d where d.doc_id = odl_set_component_status.doc_id
            )
            #> (odl.pointer_steps(pointer) || '{component_management}')
        ) = 'object'
            then jsonb_build_array(jsonb_build_object(
                'op', 'add', 'path', pointer || '/component_management/status', 'value', odl_set_component_status.status
            ))
        else jsonb_build_array(jsonb_build_object(
            'op', 'add', 'path', pointer || '/component_management',
            'value', jsonb_build_object('status', odl_set_component_status.status)
        ))
    end;
    if propose then
        return query
        select * from odl.propose_patch(
            odl_set_component_status.doc_id, patch, expected_version,
            coalesce(intent, format('status %s -> %s', component.status, odl_set_component_status.status)), '{}',
            null, false, 'requested', 100
        );
        return;
    end if;
    select * into written
    from odl.write_patch(
        odl_set_component_status.doc_id, patch, expected_version,
        coalesce(intent, format('status %s -> %s', component.status, odl_set_component_status.status)), '{}',
        null, false, 100
    );
    perform odl.audit_append(
        'component.status_changed',
        jsonb_build_object(
            'component', odl_set_component_status.component_key, 'from', component.status,
            'to', odl_set_component_status.status, 'version', written.version
        ),
        target.project_id, odl_set_component_status.doc_id
    );
    return query
    select written.version, written.doc_hash, written.inverse_patch, null::jsonb, 'applied'::text, null::text,
        null::text[];
end
$$;

revoke all on function odl.odl_set_component_status(text, text, text, integer, text, boolean) from public;
grant execute on function odl.odl_set_component_status(text, text, text, integer, text, boolean) to odl_app;
comment on function odl.odl_set_component_status(text, text, text, integer, text, boolean) is
'Changes the status (component_management.status) of a library component of a document, named as instances '
'name it, by a patch the document writer applies as a new version (outcome applied) or, with propose, holds as a '
'change request for an approver to merge (outcome proposed). The status machine decides, not the section rights: '
'ODK01 (no such transition), ODK02 (role), ODK03 (needs approval: propose it), ODK04 (fields missing), ODK05 '
'(no such component), ODR01 (neither named by the machine nor holding R on libraries), ODD01, ODV01';
