-- RFC 8785 canonical text and content hashes of any JSON value a caller
-- sends. The value is checked against the limits document_bytes and
-- nesting_depth first (odl.check_json), then reaches Python as text: never
-- through the jsonb_plpython3u transform, whose recursion has no stack
-- check (a 14,000-deep array crashes the server).

-- The canonical text of a JSON text; failures come back as data, because
-- an error raised in PL/Python carries its class name and a traceback.
create or replace function odl.canonical_text(
    doc_text text,
    out canonical text,
    out sqlstate text,
    out message text,
    out detail text
)
language plpython3u
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
try:
    if "canonical" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import canonical, guards
        SD["guards"] = guards
        guards.install(plpy)
        SD["canonical"] = canonical
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, error.sqlstate, error.args[0], None)
canonical, guards = SD["canonical"], SD["guards"]
return guards.attempt(
    plpy, lambda sqlstate, message, detail: (None, sqlstate, message, detail),
    lambda: (canonical.text_canonical(doc_text), None, None, None),
)
$$;

revoke all on function odl.canonical_text(text) from public;
comment on function odl.canonical_text(text) is
'The RFC 8785 canonical text of JSON text; failures (a number beyond a double: 22003) come back as data';

create or replace function odl.odl_canonical_json(doc jsonb)
returns text
language plpgsql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    doc_text text := doc::text;
    outcome record;
begin
    perform odl.check_json(doc, doc_text, 'document_bytes', 'the value');
    outcome := odl.canonical_text(doc_text);
    if outcome.sqlstate is not null then
        raise exception using
            errcode = outcome.sqlstate, message = outcome.message, detail = coalesce(outcome.detail, '');
    end if;
    return outcome.canonical;
end
$$;

revoke all on function odl.odl_canonical_json(jsonb) from public;
grant execute on function odl.odl_canonical_json(jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_canonical_json(jsonb) is
'The RFC 8785 (JCS) canonical text of a JSON value; numbers are read as IEEE 754 doubles, and one beyond their '
'range is refused (22003, naming its pointer); held to the limits document_bytes (ODL01) and nesting_depth (ODL02); '
'NULL gives NULL';

create or replace function odl.odl_content_hash(doc jsonb)
returns text
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select 'sha256:' || encode(sha256(convert_to(odl.odl_canonical_json(doc), 'UTF8')), 'hex')
$$;

revoke all on function odl.odl_content_hash(jsonb) from public;
grant execute on function odl.odl_content_hash(jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_content_hash(jsonb) is
'ODL-SD content hash, "sha256:<hex>" over the RFC 8785 canonical UTF-8 of the value (see odl_canonical_json)';
