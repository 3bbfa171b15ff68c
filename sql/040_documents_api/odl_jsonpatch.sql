-- The pure engine, for tools and tests: no storage, no schema.

create or replace function odl.odl_jsonpatch_apply(doc jsonb, patch jsonb)
returns jsonb
language plpgsql
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    outcome record := odl.document_patch(doc, patch, null);
begin
    perform odl.raise_failure(outcome.sqlstate, outcome.message, outcome.detail);
    return outcome.document;
end
$$;

revoke all on function odl.odl_jsonpatch_apply(jsonb, jsonb) from public;
grant execute on function odl.odl_jsonpatch_apply(jsonb, jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_jsonpatch_apply(jsonb, jsonb) is
'The document after an RFC 6902 patch, atomically (an empty patch returns it unchanged); errors name the '
'operation and its pointer';

create or replace function odl.odl_jsonpatch_inverse(doc jsonb, patch jsonb)
returns jsonb
language plpgsql
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    outcome record := odl.document_patch(doc, patch, null);
begin
    perform odl.raise_failure(outcome.sqlstate, outcome.message, outcome.detail);
    return outcome.inverse_patch;
end
$$;

revoke all on function odl.odl_jsonpatch_inverse(jsonb, jsonb) from public;
grant execute on function odl.odl_jsonpatch_inverse(jsonb, jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_jsonpatch_inverse(jsonb, jsonb) is
'The patch that undoes an RFC 6902 patch applied to doc: applied to the result, it gives doc back exactly';
