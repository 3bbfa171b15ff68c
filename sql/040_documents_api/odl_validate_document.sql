-- Checks a document without storing it: the JSON Schema of its
-- schema_version, then the integrity rules, with their warnings.
--
-- The document reaches PL/Python as text, which json.loads reads: the jsonb
-- transform recurses in C without a stack check, and a deeply nested
-- document would crash the server. Python's recursion limit turns such a
-- document into RecursionError instead, raised here as 54001.

create or replace function odl.document_findings(doc_text text)
returns table (pointer text, severity text, message text)
language plpython3u
stable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
import json
from decimal import Decimal

if "integrity" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import integrity, validation
    SD["integrity"] = integrity
    SD["validation"] = validation
    SD["schema_of"] = plpy.prepare(
        "select content_hash, schema::text as schema from odl.json_schemas where version = $1", ["text"]
    )
integrity, validation = SD["integrity"], SD["validation"]

try:
    # Numbers as the writer reads them, so that the caches serve both.
    document = json.loads(doc_text, parse_float=Decimal, parse_int=Decimal)
    version = document.get("schema_version") if isinstance(document, dict) else None
    rows = plpy.execute(SD["schema_of"], [version]) if isinstance(version, str) else []
    found = []
    if rows:
        schemas = GD.setdefault("odl_schemas", {})
        key = rows[0]["content_hash"]
        if key not in schemas:
            schemas[key] = json.loads(rows[0]["schema"], parse_float=Decimal, parse_int=Decimal)
        cache = GD.setdefault("odl_validation", {})
        found = [(p, "error", m) for p, m in validation.schema_errors(document, schemas[key], cache)]
    found += integrity.findings(document, supported_versions=(version,) if rows else ())
except RecursionError:
    found = None
if found is None:
    plpy.error("document nests too deeply", sqlstate="54001")
return found
$$;

revoke all on function odl.document_findings(text) from public;
comment on function odl.document_findings(text) is
'The findings of odl_validate_document() for a document given as JSON text; raises 54001 when it nests deeper '
'than Python recurses';

create or replace function odl.odl_validate_document(doc jsonb)
returns table (pointer text, severity text, message text)
language plpgsql
stable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    return query select f.pointer, f.severity, f.message from odl.document_findings(doc::text) as f;
exception when statement_too_complex then
    raise exception using
        errcode = '54001',
        message = 'document nests too deeply to validate',
        detail = 'Python''s recursion limit (about 1000 levels) bounds the nesting it can check';
end
$$;

revoke all on function odl.odl_validate_document(jsonb) from public;
grant execute on function odl.odl_validate_document(jsonb) to odl_app, odl_analyst;
comment on function odl.odl_validate_document(jsonb) is
'Checks an ODL-SD document without storing it, one row per finding: severity error (the JSON Schema of its '
'schema_version, or the integrity rules; a write would be refused) or warning (a reference the spec leaves open)';
