create or replace function odl.document_at(doc_id text, version integer)
returns jsonb
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    current_doc record;
    snapshot record;
    wanted integer;
    replayed record;
begin
    select d.version, odl.document_resolved(d.tenant_id, d.doc_json, d.external) as doc_json into current_doc
    from odl.odl_documents as d where d.doc_id = document_at.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', document_at.doc_id);
    end if;
    wanted := coalesce(document_at.version, current_doc.version);
    if wanted = current_doc.version then
        return current_doc.doc_json;
    end if;
    if wanted < 1 or wanted > current_doc.version then
        raise exception using
            errcode = 'ODD03',
            message = 'document version does not exist',
            detail = format('doc_id %s has versions 1 to %s, not %s', document_at.doc_id, current_doc.version, wanted);
    end if;

    select s.version, odl.document_resolved(s.tenant_id, s.doc_json, s.external) as doc_json into snapshot
    from (
        select v.tenant_id, v.version, v.doc_json, v.external
        from odl.odl_document_versions as v
        where v.doc_id = document_at.doc_id and v.version <= wanted and v.doc_json is not null
        order by v.version desc
        limit 1
    ) as s;

    -- Replay the shorter way: forward from the snapshot, or back from the
    -- current version through the inverse patches.
    if current_doc.version - wanted < wanted - snapshot.version then
        replayed := odl.document_replay(
            current_doc.doc_json,
            (
                select coalesce(jsonb_agg(p.inverse_patch order by p.to_version desc), '[]')
                from odl.odl_patches as p
                -- A patch of tests only has nothing to undo.
                where p.doc_id = document_at.doc_id and p.to_version > wanted
                    and jsonb_array_length(p.inverse_patch) > 0
            )
        );
    elsif snapshot.version = wanted then
        return snapshot.doc_json;
    else
        replayed := odl.document_replay(
            snapshot.doc_json,
            (
                select coalesce(jsonb_agg(p.patch_json order by p.to_version), '[]')
                from odl.odl_patches as p
                where p.doc_id = document_at.doc_id and p.to_version > snapshot.version and p.to_version <= wanted
            )
        );
    end if;
    -- A cancel (statement_timeout) comes back as data, raised cleanly here.
    perform odl.raise_failure(replayed.sqlstate, replayed.message, replayed.detail);
    return replayed.document;
end
$$;

revoke all on function odl.document_at(text, integer) from public;
comment on function odl.document_at(text, integer) is
'The current document (version null), or any past version exactly as it was, rebuilt from a snapshot and the '
'patches; unredacted, for the API functions';

create or replace function odl.odl_get_document(doc_id text, version integer default null)
returns table (document jsonb, redacted text[])
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    scope record;
begin
    select s.node_id, s.project_id into scope
    from odl.odl_documents as d
    cross join lateral odl.scope_of(d.project_id) as s
    where d.doc_id = odl_get_document.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', odl_get_document.doc_id);
    end if;
    if not odl.readable_project(scope.project_id) then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: reading a document needs R on some section of its project',
            detail = format('user_id %s, doc_id %s', context.user_id, odl_get_document.doc_id);
    end if;
    return query
    select r.document, r.redacted
    from odl.redact(odl.document_at(odl_get_document.doc_id, odl_get_document.version), scope.node_id) as r;
end
$$;

revoke all on function odl.odl_get_document(text, integer) from public;
grant execute on function odl.odl_get_document(text, integer) to odl_app;
comment on function odl.odl_get_document(text, integer) is
'The current document, or any past version exactly as it was, with only what the caller may read: '
'redacted lists the JSON pointers removed (sections without R, parts classified above the caller''s clearance)';
