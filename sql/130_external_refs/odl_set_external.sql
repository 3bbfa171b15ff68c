-- A writer keeps any array or object of a document outside it, or brings
-- one back. Only the storage changes: the content, its hash and its
-- version stay, so readers see nothing new; the audit ledger records it.
create or replace function odl.odl_set_external(
    doc_id text, pointer text, external boolean, expected_version integer
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    context record := odl.require_context();
    current_doc record;
    kept jsonb;
    outcome record;
    now_external jsonb;
begin
    if pointer is null or external is null or expected_version is null then
        raise exception using
            errcode = '22004',
            message = 'pointer, external and expected_version are required';
    end if;
    if left(pointer, 1) <> '/' then
        raise exception using
            errcode = 'ODB02',
            message = 'pointer names nothing the document can keep outside',
            detail = format('pointer %s', quote_literal(pointer)),
            hint = 'Name a non-empty array or object below the root, as a JSON pointer.';
    end if;
    select d.tenant_id, d.project_id, d.version, d.doc_hash, d.xmin::text as row_xmin, d.external as stored
    into current_doc
    from odl.odl_documents as d where d.doc_id = odl_set_external.doc_id for update;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', odl_set_external.doc_id);
    end if;
    if current_doc.version <> expected_version then
        perform odl.raise_version_conflict(odl_set_external.doc_id, expected_version, current_doc.version);
    end if;
    if odl.authorize_write(current_doc.project_id, array[pointer], 'write') is not null then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: storing a sub-tree elsewhere needs W on its section without approval',
            detail = format('user_id %s, pointer %s', context.user_id, pointer);
    end if;

    kept := coalesce(current_doc.stored, '{}');
    kept := case when external then kept || jsonb_build_object(pointer, '[]'::jsonb) else kept - pointer end;
    -- The engine's empty patch: the same document, hashed, in the storage
    -- form these pointers give it.
    outcome := odl.patch_cached_document(
        odl_set_external.doc_id, current_doc.version, current_doc.doc_hash, current_doc.row_xmin, kept::text, '[]',
        100
    );
    perform odl.raise_failure(outcome.sqlstate, outcome.message, outcome.detail);
    now_external := outcome.stored_external::jsonb;
    if external and not coalesce(now_external ? pointer, false) then
        raise exception using
            errcode = 'ODB02',
            message = 'pointer names nothing the document can keep outside',
            detail = format('pointer %s', pointer),
            hint = 'Name a non-empty array or object, not the root nor a place inside a sub-tree already outside.';
    end if;
    if not external and coalesce(now_external ? pointer, false) then
        raise exception using
            errcode = 'ODB03',
            message = 'document declares its instances external and holds more than its instance_threshold',
            detail = format('pointer %s', pointer),
            hint = 'Its data_management declares where its instances live; change that declaration first.';
    end if;
    if outcome.doc_hash is distinct from current_doc.doc_hash then
        raise exception using
            errcode = 'XX000',
            message = 'storing a document elsewhere changed its hash',
            detail = format('doc_id %s: %s, then %s', odl_set_external.doc_id, current_doc.doc_hash, outcome.doc_hash);
    end if;

    if now_external is not null then
        perform odl.store_document_blobs(
            current_doc.tenant_id, odl_set_external.doc_id, now_external, outcome.blob_hashes, outcome.blob_texts
        );
    end if;
    update odl.odl_documents as d
    set doc_json = coalesce(outcome.stored_text, outcome.document_text)::jsonb,
        external = now_external
    where d.tenant_id = current_doc.tenant_id and d.doc_id = odl_set_external.doc_id;
    perform odl.audit_append(
        'document.storage_changed',
        jsonb_build_object(
            'version', current_doc.version, 'pointer', pointer, 'external', external,
            'external_pointers', coalesce((select jsonb_agg(k.key order by k.key) from jsonb_object_keys(now_external) as k (key)), '[]')
        ),
        current_doc.project_id, odl_set_external.doc_id
    );
    return coalesce(now_external, '{}');
end
$$;

revoke all on function odl.odl_set_external(text, text, boolean, integer) from public;
grant execute on function odl.odl_set_external(text, text, boolean, integer) to odl_app;
comment on function odl.odl_set_external(text, text, boolean, integer) is
'Keeps the array or object at pointer outside the document, as content-addressed blobs (external true), or '
'brings it back into the row (false); the version, content and hash stay. Needs W on the pointer''s section '
'without approval (ODR01); ODB02 when the pointer names no non-empty array or object, ODB03 when bringing back '
'instances the document declares external; ODV01 when expected_version is not current. Returns the external '
'column: pointer -> blob addresses';
