create or replace function odl.odl_create_document(project_id text, doc jsonb)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    checked record;
    new_id text := odl.odl_ulid();
    new_xmin text;
    doc_text text := doc::text;
    stored_doc jsonb := doc;
    stored_external jsonb;
begin
    if doc is null then
        raise exception using errcode = '22004', message = 'doc must not be null';
    end if;
    if not exists (select from odl.projects as p where p.project_id = odl_create_document.project_id) then
        raise exception using
            errcode = 'ODD02',
            message = 'project does not exist',
            detail = format('project_id %s', quote_nullable(odl_create_document.project_id));
    end if;

    -- The document first, so that a malformed one (a member that is no
    -- section, say) is named as such rather than as a lack of rights.
    -- Its size and depth before any work that grows with them.
    perform odl.check_json(doc, doc_text, 'document_bytes', 'the document');
    checked := odl.check_new_document(new_id, doc_text);
    perform odl.raise_failure(checked.sqlstate, checked.message, checked.detail);

    -- W on meta and R on every section the document holds; approvals
    -- govern later changes.
    perform odl.authorize_write(
        odl_create_document.project_id,
        array(
            select '/' || replace(replace(k.key, '~', '~0'), '/', '~1')
            from jsonb_object_keys(case jsonb_typeof(doc) when 'object' then doc else '{}' end) as k (key)
        ),
        'create'
    );

    -- A document whose instances live outside it (the format's rule) is
    -- stored in its storage form from version 1.
    if checked.stored_external is not null then
        stored_doc := checked.stored_text::jsonb;
        stored_external := checked.stored_external::jsonb;
        perform odl.store_document_blobs(
            context.tenant_id, new_id, stored_external, checked.blob_hashes, checked.blob_texts
        );
    end if;
    insert into odl.odl_documents (
        tenant_id, doc_id, project_id, schema_version, doc_json, external, doc_hash, version, created_by, updated_by
    )
    values (
        context.tenant_id, new_id, odl_create_document.project_id, doc ->> 'schema_version',
        stored_doc, stored_external, checked.doc_hash, 1, context.user_id, context.user_id
    )
    returning xmin::text into new_xmin;
    -- The first patch finds the document in this backend's cache.
    perform odl.keep_cached_document(new_id, 1, checked.doc_hash, new_xmin);
    insert into odl.odl_document_versions (
        tenant_id, doc_id, version, doc_hash, doc_json, external, created_by, changed_pointers
    )
    values (context.tenant_id, new_id, 1, checked.doc_hash, stored_doc, stored_external, context.user_id, '{""}');
    perform odl.run_projectors(context.tenant_id, new_id, odl_create_document.project_id, 1, doc, '{""}');
    perform odl.audit_append(
        'document.created',
        jsonb_build_object('version', 1, 'doc_hash', checked.doc_hash, 'schema_version', doc ->> 'schema_version'),
        odl_create_document.project_id, new_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_create_document(text, jsonb) from public;
grant execute on function odl.odl_create_document(text, jsonb) to odl_app;
comment on function odl.odl_create_document(text, jsonb) is
'Validates an ODL-SD document, stores it as version 1 of a new document of the project, and returns its ULID; '
'needs W on meta and R on every section the document holds. Held to the limits document_bytes (ODL01) and '
'nesting_depth (ODL02); a number beyond a double is refused (22003); a NULL doc is 22004';
