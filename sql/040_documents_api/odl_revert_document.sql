create or replace function odl.odl_revert_document(doc_id text, to_version integer, expected_version integer)
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
    revert_patch jsonb;
begin
    -- A null target would read as the current version and record a revert
    -- to it; a null expected version would skip the version check.
    if doc_id is null or to_version is null or expected_version is null then
        raise exception using
            errcode = '22004',
            message = 'doc_id, to_version and expected_version are required',
            detail = format(
                'doc_id %s, to_version %s, expected_version %s', quote_nullable(doc_id),
                quote_nullable(to_version), quote_nullable(expected_version)
            );
    end if;
    perform odl.require_context();
    -- Checks that the document and the version exist.
    perform odl.document_at(odl_revert_document.doc_id, odl_revert_document.to_version);

    -- The inverses of the later patches, newest first, lead back exactly.
    select coalesce(jsonb_agg(op order by p.to_version desc, ordinality), '[]')
    into revert_patch
    from odl.odl_patches as p
    cross join lateral jsonb_array_elements(p.inverse_patch) with ordinality as e (op, ordinality)
    where p.doc_id = odl_revert_document.doc_id and p.to_version > odl_revert_document.to_version;
    if jsonb_array_length(revert_patch) = 0 then
        -- Nothing changed since (or only tests ran): record the revert anyway,
        -- as a test of the schema version (which needs rights on meta only).
        revert_patch := jsonb_build_array(jsonb_build_object('op', 'test', 'path', '/schema_version', 'value',
            odl.document_at(odl_revert_document.doc_id, null) -> 'schema_version'));
    end if;

    return query
    select * from odl.submit_patch(
        odl_revert_document.doc_id, revert_patch, odl_revert_document.expected_version,
        format('revert to version %s', odl_revert_document.to_version), '{}', null, false, false, null
    );
end
$$;

revoke all on function odl.odl_revert_document(text, integer, integer) from public;
grant execute on function odl.odl_revert_document(text, integer, integer) to odl_app;
comment on function odl.odl_revert_document(text, integer, integer) is
'Makes a new version equal to an earlier one, recorded as a patch like any other and authorized like one '
'(so it may become a change request)';
