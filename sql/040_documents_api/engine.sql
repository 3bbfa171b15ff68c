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
    -- An error raised in a PL/Python function the engine called (a cancel
    -- while odl.python_boot() ran) carries PL/Python's class name: the
    -- caller sees the message as PostgreSQL wrote it.
    raise exception using
        errcode = sqlstate,
        message = regexp_replace(message, '^(spiexceptions|plpy)\.[A-Za-z]+: ', ''),
        detail = coalesce(detail, '');
end
$$;

revoke all on function odl.raise_failure(text, text, text) from public;
comment on function odl.raise_failure(text, text, text) is
'Raises a failure reported by the engine, without the class name PL/Python puts before an error it passes on; '
'does nothing when sqlstate is null';

-- No PL/Python function takes or returns jsonb through the jsonb_plpython3u
-- transform: its recursion has no stack check, and a 14,000-deep array
-- crashes the server. Without a transform PL/Python receives a jsonb
-- argument as its text (jsonb_out, iterative) and parses a returned text
-- into jsonb (jsonb_in, which checks its stack); Python parses the text
-- itself, within the limits its callers checked.

-- The write path of change requests (odl.propose_patch): the document and
-- the patch as text.
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
as $$
try:
    if "documents" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import documents, guards
        SD["guards"] = guards
        SD["server"] = documents.Server(plpy, GD)
        SD["documents"] = documents
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, None, None, error.sqlstate, error.args[0], None, None)
documents, guards, server = SD["documents"], SD["guards"], SD["server"]


def write():
    doc = documents.parse_json(doc_text)
    limits = server.limits()
    if patch is None:
        return documents.check(doc, server.schema_of, server.validation_cache, jsonb_numbers=True)
    limits.check_text(patch, "patch_bytes" if max_operations is not None else "document_bytes", "the patch")
    operations = documents.parse_json(patch)
    documents.canonical.refuse_out_of_range(operations, patch)
    return documents.change(
        doc, operations, server.schema_of, server.validation_cache, max_operations, jsonb_numbers=True, limits=limits,
    )


outcome = guards.attempt(plpy, documents.Outcome, write)
if outcome.sqlstate:
    return None, None, None, outcome.sqlstate, outcome.message, outcome.detail, None
document = None
if outcome.text is None and outcome.document is not None:
    document = documents.pieces.storage_text(outcome.document)
inverse = None if outcome.inverse is None else documents.pieces.storage_text(outcome.inverse)
return document, inverse, outcome.doc_hash, None, None, None, outcome.text
$$;

revoke all on function odl.document_write(text, jsonb, integer) from public;
comment on function odl.document_write(text, jsonb, integer) is
'Applies a patch (or none) and validates and hashes the result; failures come back as data. '
'The result comes back as document_text when JSON text can carry it exactly, else as document';

-- The pure engine behind odl_jsonpatch_apply and odl_jsonpatch_inverse.
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
as $$
try:
    if "documents" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import documents, guards
        SD["guards"] = guards
        SD["limits"] = plpy.prepare("select odl.limit_values()::text as l")
        guards.install(plpy)
        SD["documents"] = documents
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, None, error.sqlstate, error.args[0], None)
documents, guards = SD["documents"], SD["guards"]


def run():
    limits = guards.Limits(documents.json.loads(plpy.execute(SD["limits"])[0]["l"]))
    return documents.engine_patch(doc, patch, limits, max_operations)


done = guards.attempt(plpy, lambda **failure: (None, None, documents.Outcome(**failure)), run)
return done[0], done[1], done[2].sqlstate, done[2].message, done[2].detail
$$;

revoke all on function odl.document_patch(jsonb, jsonb, integer) from public;
comment on function odl.document_patch(jsonb, jsonb, integer) is
'Applies a patch to a document (both as the text PL/Python receives for jsonb) within the limits; failures come '
'back as data';

-- Rebuilds a past version (odl.document_at). The return type changed after
-- @v0.1.0, which create or replace cannot do.
drop function if exists odl.document_replay(jsonb, jsonb);
create function odl.document_replay(
    doc jsonb,
    patches jsonb,
    out document jsonb,
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
    if "documents" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import documents, guards
        SD["guards"] = guards
        guards.install(plpy)
        SD["documents"] = documents
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, error.sqlstate, error.args[0], None)
documents, guards = SD["documents"], SD["guards"]
done = guards.attempt(plpy, documents.Outcome, lambda: documents.Outcome(text=documents.replay_text(doc, patches)))
return done.text, done.sqlstate, done.message, done.detail
$$;

revoke all on function odl.document_replay(jsonb, jsonb) from public;
comment on function odl.document_replay(jsonb, jsonb) is
'A document after each stored patch of a JSON array of patches, in order; failures (a cancel) come back as data';

-- The write path of odl.write_patch(): the backend keeps the documents it
-- read or wrote as pieces of text (odl_db.documents.DocumentCache), so a
-- patch costs O(patch) in Python; parsing the new text into jsonb is left
-- to C. The document and the patch come in as text, never through the
-- jsonb transform, whose recursion has no stack check.
-- The arguments and results changed after @v0.2.0 (the storage form of
-- documents that keep sub-trees outside), which create or replace cannot do.
drop function if exists odl.patch_cached_document(text, integer, text, text, text, integer);
drop function if exists odl.check_new_document(text, text);

create or replace function odl.patch_cached_document(
    doc_id text,
    version integer,
    doc_hash text,
    row_xmin text,
    external_text text,
    patch_text text,
    max_operations integer,
    out document_text text,
    out doc_hash text,
    out inverse_text text,
    out changed_pointers text[],
    out patch_hash text,
    out sqlstate text,
    out message text,
    out detail text,
    out stored_text text,
    out stored_external text,
    out blob_hashes text[],
    out blob_texts text[]
)
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
try:
    if "server" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import documents, guards
        SD["documents"] = documents
        SD["guards"] = guards
        SD["server"] = documents.Server(plpy, GD)
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, None, None, None, None, error.sqlstate, error.args[0], None, None, None, None, None)
server = SD["server"]
outcome = SD["guards"].attempt(
    plpy, SD["documents"].Written, SD["documents"].write,
    server.cache, server, doc_id, version, doc_hash, row_xmin, patch_text, server.schema_of,
    server.validation_cache, max_operations, server.limits(), external_text,
)
return (
    outcome.text, outcome.doc_hash, outcome.inverse_text, outcome.changed, outcome.patch_hash,
    outcome.sqlstate, outcome.message, outcome.detail,
    outcome.stored_text, outcome.external_text, outcome.blob_hashes, outcome.blob_texts,
)
$$;

revoke all on function odl.patch_cached_document(text, integer, text, text, text, text, integer) from public;
comment on function odl.patch_cached_document(text, integer, text, text, text, text, integer) is
'Applies a patch (JSON text) to the stored version of a document, held by this backend as pieces of text, and '
'validates and hashes the result: the new document and inverse as JSON text, the pointers changed, the patch''s '
'hash; failures come back as data. The version, hash, xmin and external column name the row the caller locked. '
'When the document keeps sub-trees outside, also its storage form: the text without them, the new external column '
'and the blobs (addresses and texts) it may not hold yet';

create or replace function odl.check_new_document(
    doc_id text,
    doc_text text,
    out doc_hash text,
    out sqlstate text,
    out message text,
    out detail text,
    out stored_text text,
    out stored_external text,
    out blob_hashes text[],
    out blob_texts text[]
)
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
try:
    if "server" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import documents, guards
        SD["documents"] = documents
        SD["guards"] = guards
        SD["server"] = documents.Server(plpy, GD)
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, error.sqlstate, error.args[0], None, None, None, None, None)
server = SD["server"]
outcome = SD["guards"].attempt(
    plpy, SD["documents"].Written, SD["documents"].create,
    server.cache, doc_id, doc_text, server.schema_of, server.validation_cache,
)
return (
    outcome.doc_hash, outcome.sqlstate, outcome.message, outcome.detail,
    outcome.stored_text, outcome.external_text, outcome.blob_hashes, outcome.blob_texts,
)
$$;

revoke all on function odl.check_new_document(text, text) from public;
comment on function odl.check_new_document(text, text) is
'Validates and hashes a new document (JSON text) and holds it in this backend''s document cache as version 1 of '
'doc_id, for odl.keep_cached_document() to confirm once stored; failures come back as data. When the document '
'keeps sub-trees outside (its instances, by the format''s rule), also its storage form, as patch_cached_document';

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

create or replace function odl.forget_cached_document(doc_id text)
returns boolean
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
cache = GD.get("odl_document_cache")
return cache is not None and cache.confirmed.pop(doc_id, None) is not None
$$;

revoke all on function odl.forget_cached_document(text) from public;
comment on function odl.forget_cached_document(text) is
'Drops every state of a document from this backend''s document cache (outside the transaction: a cache is no '
'table), so that its next write reads it from the tables; true when it held one';

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
blobs = GD.get("odl_blob_cache")
stats["blob_cache"] = blobs.stats() if blobs is not None and hasattr(blobs, "stats") else {"blobs": 0, "chars": 0}
return json.dumps(stats)
$$;

revoke all on function odl.document_cache_stats() from public;
comment on function odl.document_cache_stats() is
'What this backend''s document cache holds: documents, states and characters of document text, and its cache of '
'blobs (blob_cache: blobs, characters, hits, misses) (odl_owner)';
