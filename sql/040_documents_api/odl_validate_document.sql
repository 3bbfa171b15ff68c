-- Checks a document without storing it: the JSON Schema of its
-- schema_version, then the integrity rules, with their warnings.
--
-- The document is held to the limits document_bytes and nesting_depth
-- first, then reaches PL/Python as text: the jsonb transform recurses in C
-- without a stack check, and a deeply nested document would crash the
-- server.

create or replace function odl.document_findings(doc_text text)
returns table (pointer text, severity text, message text)
language plpython3u
stable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
try:
    if "modules" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import canonical, documents, guards, integrity, validation
        # The writer's schema registry, so that both share its caches.
        SD["server"] = documents.Server(plpy, GD)
        SD["modules"] = canonical, documents, guards, integrity, validation
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return [(error.sqlstate, "failure", error.args[0])]
canonical, documents, guards, integrity, validation = SD["modules"]
server = SD["server"]


def findings():
    # Numbers as the writer reads them, so that the caches serve both.
    document = documents.parse_json(doc_text)
    version = document.get("schema_version") if isinstance(document, dict) else None
    schema = server.schema_of(version) if isinstance(version, str) else None
    found = []
    if schema is not None:
        found = [(p, "error", m) for p, m in validation.schema_errors(document, schema, server.validation_cache)]
    found += integrity.findings(document, supported_versions=(version,) if schema is not None else ())
    # A write would refuse a number beyond a double (22003).
    number = canonical.out_of_range(document, doc_text)
    if number is not None:
        found.append((number.pointer, "error", "number is out of range: JSON numbers must be finite doubles"))
    return found


# A failure comes back as one row of severity 'failure': its SQLSTATE and
# its message, for odl_validate_document() to raise.
return guards.attempt(plpy, lambda sqlstate, message, detail: [(sqlstate, "failure", message)], findings)
$$;

revoke all on function odl.document_findings(text) from public;
comment on function odl.document_findings(text) is
'The findings of odl_validate_document() for a document given as JSON text; a failure comes back as one row '
'(sqlstate, ''failure'', message)';

create or replace function odl.odl_validate_document(doc jsonb)
returns table (pointer text, severity text, message text)
language plpgsql
stable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    doc_text text := doc::text;
    finding record;
begin
    perform odl.check_json(doc, doc_text, 'document_bytes', 'the document');
    for finding in select f.pointer, f.severity, f.message from odl.document_findings(doc_text) as f loop
        if finding.severity = 'failure' then
            perform odl.raise_failure(finding.pointer, finding.message, null);
        end if;
        pointer := finding.pointer;
        severity := finding.severity;
        message := finding.message;
        return next;
    end loop;
end
$$;

revoke all on function odl.odl_validate_document(jsonb) from public;
grant execute on function odl.odl_validate_document(jsonb) to odl_app, odl_analyst;
comment on function odl.odl_validate_document(jsonb) is
'Checks an ODL-SD document without storing it, one row per finding: severity error (the JSON Schema of its '
'schema_version, the integrity rules, or a number beyond a double; a write would be refused) or warning (a '
'reference the spec leaves open). Held to the limits document_bytes (ODL01) and nesting_depth (ODL02); NULL gives '
'no rows';
