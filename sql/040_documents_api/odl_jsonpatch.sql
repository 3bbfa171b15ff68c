-- The pure engine, for tools and tests: no storage, no schema. Anyone with
-- an API role may call it, so it is held to the limits before any work:
-- the depth of the document and of the patch's values and the number of
-- operations here; the exact sizes of their texts, what the patch places
-- and copies and the size of the result in the engine (odl.document_patch).
-- NULL in either argument gives NULL.

create or replace function odl.engine_patch(doc jsonb, patch jsonb, out document jsonb, out inverse_patch jsonb)
language plpgsql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    outcome record;
begin
    perform odl.check_json(doc, null, 'document_bytes', 'the document');
    perform odl.check_json(patch, null, 'patch_bytes', 'the patch', 2);
    if jsonb_typeof(patch) = 'array' then
        perform odl.check_limit('engine_operations', jsonb_array_length(patch), 'the patch');
    end if;
    outcome := odl.document_patch(doc, patch, null);
    perform odl.raise_failure(outcome.sqlstate, outcome.message, outcome.detail);
    document := outcome.document;
    inverse_patch := outcome.inverse_patch;
end
$$;

revoke all on function odl.engine_patch(jsonb, jsonb) from public;
comment on function odl.engine_patch(jsonb, jsonb) is
'The document after an RFC 6902 patch and the patch that undoes it, held to the limits; for odl_jsonpatch_apply '
'and odl_jsonpatch_inverse';

create or replace function odl.odl_jsonpatch_apply(doc jsonb, patch jsonb)
returns jsonb
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select (odl.engine_patch(doc, patch)).document
$$;

revoke all on function odl.odl_jsonpatch_apply(jsonb, jsonb) from public;
grant execute on function odl.odl_jsonpatch_apply(jsonb, jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_jsonpatch_apply(jsonb, jsonb) is
'The document after an RFC 6902 patch, atomically (an empty patch returns it unchanged); errors name the '
'operation and its pointer. Held to the limits document_bytes (ODL01, also of the result), nesting_depth (ODL02), '
'patch_bytes (ODL03) and engine_operations (ODL06); NULL gives NULL';

create or replace function odl.odl_jsonpatch_inverse(doc jsonb, patch jsonb)
returns jsonb
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select (odl.engine_patch(doc, patch)).inverse_patch
$$;

revoke all on function odl.odl_jsonpatch_inverse(jsonb, jsonb) from public;
grant execute on function odl.odl_jsonpatch_inverse(jsonb, jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_jsonpatch_inverse(jsonb, jsonb) is
'The patch that undoes an RFC 6902 patch applied to doc: applied to the result, it gives doc back exactly. '
'Held to the same limits as odl_jsonpatch_apply; NULL gives NULL';
