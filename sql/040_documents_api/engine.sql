-- The PL/Python engine behind the document API. These functions are
-- internal: they return failures as (sqlstate, message, detail) for
-- odl.raise_failure(), because errors raised inside PL/Python carry the
-- exception class in their message.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODP01', 'malformed_patch', 'The patch is not a valid RFC 6902 patch (or a pointer is not valid RFC 6901)'),
('ODP02', 'too_many_operations', 'The patch has more than 100 operations'),
('ODP03', 'path_not_found', 'An operation''s path or from names a location that does not exist'),
('ODP04', 'test_failed', 'A test operation found a different value'),
('ODV01', 'version_conflict', 'expected_version is not the document''s current version'),
('ODS01', 'schema_invalid', 'The document does not match the JSON Schema of its schema_version'),
(
    'ODS02',
    'integrity_violation',
    'The document breaks a rule beyond the schema, or its schema_version is not registered'
),
('ODD01', 'unknown_document', 'No document with that id is visible in the current tenant'),
('ODD02', 'unknown_project', 'No project with that id is visible in the current tenant'),
('ODD03', 'unknown_version', 'The document has no such version')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.raise_failure(sqlstate text, message text, detail text)
returns void
language plpgsql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if sqlstate is null then
        return;
    end if;
    raise exception using errcode = sqlstate, message = message, detail = coalesce(detail, '');
end
$$;

revoke all on function odl.raise_failure(text, text, text) from public;
comment on function odl.raise_failure(text, text, text) is
'Raises a failure reported by the engine; does nothing when sqlstate is null';

-- The document comes in as text: json.loads with Decimal numbers builds
-- the same objects as the jsonb transform, a third faster.
create or replace function odl.document_write(
    doc_text text,
    patch jsonb,
    max_operations integer,
    out document jsonb,
    out inverse_patch jsonb,
    out doc_hash text,
    out sqlstate text,
    out message text,
    out detail text,
    out document_text text
)
language plpython3u
stable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
transform for type jsonb
as $$
import json
from decimal import Decimal

if "documents" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import documents
    SD["documents"] = documents
    SD["hash_of"] = plpy.prepare("select content_hash from odl.json_schemas where version = $1", ["text"])
    SD["schema_of"] = plpy.prepare("select schema from odl.json_schemas where version = $1", ["text"])


def schema_of(version):
    rows = plpy.execute(SD["hash_of"], [version])
    if not rows:
        return None
    schemas = GD.setdefault("odl_schemas", {})
    key = rows[0]["content_hash"]
    if key not in schemas:
        schemas[key] = plpy.execute(SD["schema_of"], [version])[0]["schema"]
    return schemas[key]


cache = GD.setdefault("odl_validation", {})
doc = json.loads(doc_text, parse_float=Decimal, parse_int=Decimal)
if patch is None:
    return SD["documents"].check(doc, schema_of, cache, jsonb_numbers=True)
return SD["documents"].change(doc, patch, schema_of, cache, max_operations, jsonb_numbers=True)
$$;

revoke all on function odl.document_write(text, jsonb, integer) from public;
comment on function odl.document_write(text, jsonb, integer) is
'Applies a patch (or none) and validates and hashes the result; failures come back as data. '
'The result comes back as document_text when JSON text can carry it exactly, else as document';

create or replace function odl.document_patch(
    doc jsonb,
    patch jsonb,
    max_operations integer,
    out document jsonb,
    out inverse_patch jsonb,
    out sqlstate text,
    out message text,
    out detail text
)
language plpython3u
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
transform for type jsonb
as $$
if "documents" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import documents
    SD["documents"] = documents
outcome = SD["documents"].apply(doc, patch, max_operations)
return outcome.document, outcome.inverse, outcome.sqlstate, outcome.message, outcome.detail
$$;

revoke all on function odl.document_patch(jsonb, jsonb, integer) from public;
comment on function odl.document_patch(jsonb, jsonb, integer) is
'Applies a patch without checks; failures come back as data';

create or replace function odl.document_replay(doc jsonb, patches jsonb)
returns jsonb
language plpython3u
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
transform for type jsonb
as $$
if "documents" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import documents
    SD["documents"] = documents
return SD["documents"].replay(doc, patches)
$$;

revoke all on function odl.document_replay(jsonb, jsonb) from public;
comment on function odl.document_replay(jsonb, jsonb) is
'A document after each stored patch of a JSON array of patches, in order';

-- The write path of odl.write_patch(): the backend keeps the documents it
-- read or wrote as pieces of text (odl_db.documents.DocumentCache), so a
-- patch costs O(patch) in Python; parsing the new text into jsonb is left
-- to C. The document and the patch come in as text, never through the
-- jsonb transform, whose recursion has no stack check.
create or replace function odl.patch_cached_document(
    doc_id text,
    version integer,
    doc_hash text,
    row_xmin text,
    patch_text text,
    max_operations integer,
    out document_text text,
    out doc_hash text,
    out inverse_text text,
    out changed_pointers text[],
    out patch_hash text,
    out sqlstate text,
    out message text,
    out detail text
)
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
if "server" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import documents
    SD["documents"] = documents
    SD["server"] = documents.Server(plpy, GD)
server = SD["server"]
outcome = SD["documents"].write(
    server.cache, server, doc_id, version, doc_hash, row_xmin, patch_text, server.schema_of,
    server.validation_cache, max_operations,
)
return (
    outcome.text, outcome.doc_hash, outcome.inverse_text, outcome.changed, outcome.patch_hash,
    outcome.sqlstate, outcome.message, outcome.detail,
)
$$;

revoke all on function odl.patch_cached_document(text, integer, text, text, text, integer) from public;
comment on function odl.patch_cached_document(text, integer, text, text, text, integer) is
'Applies a patch (JSON text) to the stored version of a document, held by this backend as pieces of text, and '
'validates and hashes the result: the new document and inverse as JSON text, the pointers changed, the patch''s '
'hash; failures come back as data. The version, hash and xmin name the row the caller locked';

create or replace function odl.check_new_document(
    doc_id text,
    doc_text text,
    out doc_hash text,
    out sqlstate text,
    out message text,
    out detail text
)
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
if "server" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import documents
    SD["documents"] = documents
    SD["server"] = documents.Server(plpy, GD)
server = SD["server"]
outcome = SD["documents"].create(server.cache, doc_id, doc_text, server.schema_of, server.validation_cache)
return outcome.doc_hash, outcome.sqlstate, outcome.message, outcome.detail
$$;

revoke all on function odl.check_new_document(text, text) from public;
comment on function odl.check_new_document(text, text) is
'Validates and hashes a new document (JSON text) and holds it in this backend''s document cache as version 1 of '
'doc_id, for odl.keep_cached_document() to confirm once stored; failures come back as data';

create or replace function odl.keep_cached_document(doc_id text, version integer, doc_hash text, row_xmin text)
returns boolean
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
cache = GD.get("odl_document_cache")
return cache is not None and cache.confirm(doc_id, version, doc_hash, row_xmin)
$$;

revoke all on function odl.keep_cached_document(text, integer, text, text) from public;
comment on function odl.keep_cached_document(text, integer, text, text) is
'Confirms the state odl.patch_cached_document() proposed, once the writer stored it in the row with that xmin; '
'false when there is none to confirm';

create or replace function odl.document_cache_stats()
returns jsonb
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
import json

cache = GD.get("odl_document_cache")
stats = cache.stats() if cache is not None and hasattr(cache, "stats") else {"documents": 0, "states": 0, "chars": 0}
return json.dumps(stats)
$$;

revoke all on function odl.document_cache_stats() from public;
comment on function odl.document_cache_stats() is
'What this backend''s document cache holds: documents, states and characters of document text (odl_owner)';
