create or replace function odl.odl_get_document(doc_id text, version integer default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    current_doc record;
    snapshot record;
    wanted integer;
begin
    select d.version, d.doc_json into current_doc from odl.odl_documents as d where d.doc_id = odl_get_document.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', odl_get_document.doc_id);
    end if;
    wanted := coalesce(odl_get_document.version, current_doc.version);
    if wanted = current_doc.version then
        return current_doc.doc_json;
    end if;
    if wanted < 1 or wanted > current_doc.version then
        raise exception using
            errcode = 'ODD03',
            message = 'document version does not exist',
            detail = format('doc_id %s has versions 1 to %s, not %s', odl_get_document.doc_id, current_doc.version, wanted);
    end if;

    select v.version, v.doc_json into snapshot
    from odl.odl_document_versions as v
    where v.doc_id = odl_get_document.doc_id and v.version <= wanted and v.doc_json is not null
    order by v.version desc
    limit 1;

    -- Replay the shorter way: forward from the snapshot, or back from the
    -- current version through the inverse patches.
    if current_doc.version - wanted < wanted - snapshot.version then
        return odl.document_replay(
            current_doc.doc_json,
            (
                select coalesce(jsonb_agg(p.inverse_patch order by p.to_version desc), '[]')
                from odl.odl_patches as p
                -- A patch of tests only has nothing to undo.
                where p.doc_id = odl_get_document.doc_id and p.to_version > wanted
                    and jsonb_array_length(p.inverse_patch) > 0
            )
        );
    end if;
    if snapshot.version = wanted then
        return snapshot.doc_json;
    end if;
    return odl.document_replay(
        snapshot.doc_json,
        (
            select coalesce(jsonb_agg(p.patch_json order by p.to_version), '[]')
            from odl.odl_patches as p
            where p.doc_id = odl_get_document.doc_id and p.to_version > snapshot.version and p.to_version <= wanted
        )
    );
end
$$;

revoke all on function odl.odl_get_document(text, integer) from public;
grant execute on function odl.odl_get_document(text, integer) to odl_app;
comment on function odl.odl_get_document(text, integer) is
'The current document, or any past version exactly as it was (rebuilt from a snapshot and the patches)';
