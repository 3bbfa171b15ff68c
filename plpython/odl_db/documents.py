"""Writing a document: apply a patch, check the result, hash it.

Failures come back as data, an (sqlstate, message, detail) triple, rather
than as exceptions: PL/Python prefixes every error it raises with the
exception's class name, so the SQL API raises them itself, cleanly. Every
failing JSON pointer is named in the detail, one per line.
"""

from __future__ import annotations

import gc
import json
import re
from collections import OrderedDict
from decimal import Decimal
from typing import Any, Callable, NamedTuple, Protocol

from odl_db import canonical, guards, jsonpatch, pieces, validation
from odl_db.guards import NO_LIMITS, Limits, check_interrupts

PATCH_SQLSTATES = {
    "malformed_patch": "ODP01",
    "too_many_operations": "ODP02",
    "path_not_found": "ODP03",
    "test_failed": "ODP04",
    "nesting_too_deep": "ODL02",
    "document_too_large": "ODL01",
}
SCHEMA_INVALID = "ODS01"
INTEGRITY_VIOLATION = "ODS02"

# The schema of a schema_version, or None when it is not registered.
SchemaLookup = Callable[[str], Any]


class Outcome(NamedTuple):
    document: Any = None
    inverse: list | None = None
    doc_hash: str | None = None
    sqlstate: str | None = None
    message: str | None = None
    detail: str | None = None
    # The document as JSON text that casts back to the same jsonb, when it
    # could be written that way (then `document` is None): far cheaper to
    # return than the document itself.
    text: str | None = None


def apply(
    doc: Any,
    patch: Any,
    max_operations: int | None = 100,
    *,
    copy_on_write: bool = False,
    limits: Limits = NO_LIMITS,
) -> Outcome:
    """The patched document and its inverse, held to the limits
    nesting_depth (of what the patch places) and document_bytes (half of
    it bounds the values copy and move duplicate: each takes two bytes of
    JSON text at least)."""
    document_bytes = limits.value("document_bytes")
    try:
        document, inverse = jsonpatch.apply(
            doc,
            patch,
            max_operations=max_operations if max_operations is not None else float("inf"),
            copy_on_write=copy_on_write,
            max_depth=limits.value("nesting_depth"),
            max_copied=None if document_bytes is None else document_bytes // 2,
        )
    except jsonpatch.PatchError as error:
        return Outcome(
            sqlstate=PATCH_SQLSTATES[error.kind],
            message=str(error),
            detail=None if error.pointer is None else f"pointer {error.pointer}",
        )
    return Outcome(document=document, inverse=inverse)


def change(
    doc: Any,
    patch: Any,
    schema_of: SchemaLookup,
    cache: dict,
    max_operations: int | None = 100,
    *,
    jsonb_numbers: bool = False,
    limits: Limits = NO_LIMITS,
) -> Outcome:
    """Apply `patch` to `doc`, then check and hash the result.

    `jsonb_numbers` says that every number is a Decimal, as the jsonb
    transform delivers them; it allows the fast hash and the text result.

    `doc` is a stored version, so it was valid against the schema of its
    schema_version when it was written: unless the patch changes that
    version, the schema is checked only where the patch changed it (see
    check's `previous`). Changing a registered schema in place therefore
    leaves existing documents as they were judged.
    """
    outcome = apply(doc, patch, max_operations, copy_on_write=True, limits=limits)
    if outcome.sqlstate:
        return outcome
    document = outcome.document
    checked = check(document, schema_of, cache, previous=_same_version(doc, document), jsonb_numbers=jsonb_numbers)
    text = canonical.jsonb_text(document) if jsonb_numbers and not checked.sqlstate else None
    if text is not None:
        limits.check_text(text, "document_bytes", "the patched document")
    return checked._replace(document=None if text else document, inverse=outcome.inverse, text=text)


def check(
    doc: Any,
    schema_of: SchemaLookup,
    cache: dict,
    *,
    previous: Any = None,
    jsonb_numbers: bool = False,
    doc_hash: str | None = None,
) -> Outcome:
    """The document's hash if it is valid; otherwise every failing pointer.

    With `previous`, `doc` is a patched version of `previous`, which was
    valid against the same schema and shares every unchanged subtree with
    it, and the schema is checked only where it changed
    (validation.schema_errors_after_patch); the integrity rules are checked
    in full either way.

    Results are not cached: the content hash reads numbers as doubles, so
    1 and 1.0000000000000000001 share it, and only one of them is an
    integer. `doc_hash` is the document's content hash when the caller
    already has it. A number beyond a double raises NumberOutOfRange,
    naming its pointer.
    """
    if doc_hash is None:
        try:
            doc_hash = canonical.hash_text(
                canonical.decimal_canonical_json(doc) if jsonb_numbers else canonical.canonical_json(doc)
            )
        except canonical.NumberOutOfRange:
            canonical.refuse_out_of_range(doc)
            raise
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    schema = schema_of(version) if isinstance(version, str) else None
    if schema is None:
        errors = validation.integrity_errors(doc, supported_versions=())
        return _failure(INTEGRITY_VIOLATION, "document violates the integrity rules", errors)

    schema_problems = (
        validation.schema_errors(doc, schema, cache)
        if previous is None
        else validation.schema_errors_after_patch(doc, schema, previous, cache)
    )
    integrity_problems = validation.integrity_errors(doc, supported_versions=(version,))
    if schema_problems:
        return _failure(SCHEMA_INVALID, f"document does not match the schema of version {version}", schema_problems)
    if integrity_problems:
        return _failure(INTEGRITY_VIOLATION, "document violates the integrity rules", integrity_problems)
    return Outcome(doc_hash=doc_hash)


def replay(doc: Any, patches: list) -> Any:
    """`doc` after each patch in turn (stored patches, known to apply)."""
    for patch in patches:
        check_interrupts()
        doc, _ = jsonpatch.apply(doc, patch, max_operations=float("inf"))
    return doc


def replay_text(doc_text: str, patches_text: str) -> str:
    """replay() of JSON texts, as JSON text that casts to the same jsonb."""
    return pieces.storage_text(replay(parse_json(doc_text), parse_json(patches_text)))


def engine_patch(
    doc_text: str, patch_text: str, limits: Limits, max_operations: int | None = None
) -> tuple[str | None, str | None, Outcome]:
    """The pure engine (odl_jsonpatch_apply and _inverse) on JSON texts:
    the patched document and the inverse patch as JSON text, or a failure.
    Sizes are measured on the texts before they are parsed; the depth of
    both was checked in SQL; the result is held to document_bytes."""
    limits.check_text(doc_text, "document_bytes", "the document")
    limits.check_text(patch_text, "patch_bytes", "the patch")
    doc = parse_json(doc_text)
    patch = parse_patch(patch_text)
    canonical.refuse_out_of_range(patch, patch_text)
    canonical.refuse_out_of_range(doc, doc_text)
    if max_operations is None:
        max_operations = limits.value("engine_operations")
    outcome = apply(doc, patch, max_operations, limits=limits)
    if outcome.sqlstate:
        return None, None, outcome
    text = pieces.storage_text(outcome.document)
    limits.check_text(text, "document_bytes", "the patched document")
    return text, pieces.storage_text(outcome.inverse), outcome


def _failure(sqlstate: str, message: str, errors: list[tuple[str, str]]) -> Outcome:
    detail = "\n".join(f"{pointer or '(root)'}: {text}" for pointer, text in errors)
    count = len(errors)
    return Outcome(
        sqlstate=sqlstate,
        message=f"{message} ({count} error{'s' if count != 1 else ''})",
        detail=detail,
    )


# --- The write path: a per-backend cache of documents as pieces -------------

_ARRAY_STEP = re.compile(r"/(?:[0-9]+|-)$")
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)
parse_json = _DECODER.decode
_SEPARATOR = re.compile(r"[ \t\n\r]*(?:,[ \t\n\r]*)?")


def parse_patch(text: str) -> Any:
    """parse_json() for a patch, element by element when it is an array, so
    that a cancel is noticed between its operations: an owner may allow a
    patch of millions of them, which json reads in seconds."""
    start = len(text) - len(text.lstrip())
    if text[start : start + 1] != "[" or len(text) < 65536:
        return parse_json(text)
    elements: list = []
    scan = _DECODER.scan_once
    position = _SEPARATOR.match(text, start + 1).end()
    while text[position : position + 1] != "]":
        if not len(elements) % 1024:
            check_interrupts()
        value, position = scan(text, position)
        elements.append(value)
        position = _SEPARATOR.match(text, position).end()
    if text[position + 1 :].strip():
        raise ValueError("extra data after the JSON value")
    return elements


class Written(NamedTuple):
    """What write() returns: all texts, or a failure as in Outcome."""

    text: str | None = None
    doc_hash: str | None = None
    inverse_text: str | None = None
    changed: list[str] | None = None  # changed_pointers()
    patch_hash: str | None = None
    sqlstate: str | None = None
    message: str | None = None
    detail: str | None = None


# What a cached document costs a backend, per character of its JSON text:
# its Python values and pieces (measured: ~19 bytes, benchmarks/RESULTS.md).
BYTES_PER_CHAR = 20


class State(NamedTuple):
    """One version of a document as this backend holds it."""

    version: int
    doc_hash: str
    tree: Any  # never changed in place: patches copy on write
    piece: pieces.Piece
    chars: int  # length of the storage text, from which the cache estimates its memory


class DocumentCache:
    """The documents this backend read or wrote, so that the next patch of
    one costs O(patch) instead of parsing and hashing the whole document.

    A state is served only for the row it was read from or written to: the
    same version, content hash and row xmin (the transaction that wrote the
    row version). A write proposes its new state; the writer confirms it
    with the xmin of the row it updated. A rolled-back write therefore never
    matches (the row keeps its old xmin), nor does a version another backend
    wrote. Each document keeps its two latest confirmed states, so a
    rollback falls back to the one before at no cost; documents are evicted
    least recently used when their estimated memory (of the latest state:
    the older shares nearly all of it) exceeds `budget_bytes`.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.confirmed: OrderedDict[str, list[tuple[str, State]]] = OrderedDict()
        self.pending: dict[str, State] = {}
        # How each write found its document: cached, caught up, read whole.
        self.counts = {"hits": 0, "caught_up": 0, "read": 0}

    def lookup(self, doc_id: str, version: int, doc_hash: str, xmin: str) -> State | None:
        for row_xmin, state in self.confirmed.get(doc_id, ()):
            if row_xmin == xmin and state.version == version and state.doc_hash == doc_hash:
                self.confirmed.move_to_end(doc_id)
                return state
        return None

    def earlier(self, doc_id: str, version: int) -> tuple[str, State] | None:
        """The newest state this backend holds of a version before `version`,
        with its row xmin, to catch up from."""
        older = [(row_xmin, state) for row_xmin, state in self.confirmed.get(doc_id, ()) if state.version < version]
        return max(older, key=lambda held: held[1].version, default=None)

    def propose(self, doc_id: str, state: State) -> None:
        self.pending[doc_id] = state

    def confirm(self, doc_id: str, version: int, doc_hash: str, xmin: str) -> bool:
        state = self.pending.pop(doc_id, None)
        if state is None or state.version != version or state.doc_hash != doc_hash:
            return False
        self.keep(doc_id, xmin, state)
        return True

    def keep(self, doc_id: str, xmin: str, state: State) -> None:
        states = self.confirmed.pop(doc_id, [])
        self.confirmed[doc_id] = [(xmin, state), *states[:1]]
        while len(self.confirmed) > 1 and self.chars() * BYTES_PER_CHAR > self.budget_bytes:
            self.confirmed.popitem(last=False)

    def chars(self) -> int:
        # A document's older state shares nearly all of the newer one.
        return sum(states[0][1].chars for states in self.confirmed.values())

    def stats(self) -> dict:
        return {
            "documents": len(self.confirmed),
            "states": sum(len(states) for states in self.confirmed.values()),
            "chars": self.chars(),
            "estimated_bytes": self.chars() * BYTES_PER_CHAR,
            "budget_bytes": self.budget_bytes,
            **self.counts,
        }


class Store(Protocol):
    """Where write() reads what its cache lacks: the stored tables."""

    def text(self, doc_id: str, version: int, xmin: str) -> str | None:
        """The document as JSON text if its row is still that version with
        that xmin (a dry run reads without the row lock), else None."""

    def history(self, doc_id: str, version: int, upto: int) -> tuple[str, str, list[str]] | None:
        """The xmin and hash of the row of `version` in odl_document_versions
        and the patches (JSON text) from it to `upto`, in order; None if
        there is no such version."""


def write(
    cache: DocumentCache,
    store: Store,
    doc_id: str,
    version: int,
    doc_hash: str,
    xmin: str,
    patch_text: str,
    schema_of: SchemaLookup,
    validation_cache: dict,
    max_operations: int | None = 100,
    limits: Limits = NO_LIMITS,
) -> Written:
    """Apply a patch (JSON text) to the stored version of a document, check
    and hash the result; the new state is proposed to `cache`. The patch's
    size and depth were checked in SQL; here the patch is held to `limits`
    (what it places, what it copies, the size of the result), and a number
    beyond a double is refused (NumberOutOfRange, 22003).

    When the cache holds no state of this row (another backend wrote since,
    as in a pool of connections), it catches up from an earlier state of
    its own by replaying the patches written since, and only when it holds
    none, or they are many, reads the whole document from `store`. Python's
    cyclic garbage collector is paused meanwhile: JSON values hold no
    cycles, and it would walk the whole document again and again while it
    is built.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _write(
            cache, store, doc_id, version, doc_hash, xmin, patch_text, schema_of, validation_cache, max_operations,
            limits,
        )
    finally:
        if collecting:
            gc.enable()


def _write(
    cache, store, doc_id, version, doc_hash, xmin, patch_text, schema_of, validation_cache, max_operations, limits
):
    state = cache.lookup(doc_id, version, doc_hash, xmin)
    if state is not None:
        cache.counts["hits"] += 1
    else:
        state = _caught_up(cache, store, doc_id, version, doc_hash)
        if state is not None:
            cache.counts["caught_up"] += 1
        else:
            cache.counts["read"] += 1
            text = store.text(doc_id, version, xmin)
            if text is None:
                return Written(
                    sqlstate="ODV01",
                    message="version conflict",
                    # odl.write_patch names the version now current.
                    detail=json.dumps({"doc_id": doc_id, "expected_version": version, "current_version": None}),
                )
            tree, piece = pieces.from_text(text)
            state = State(version, doc_hash, tree, piece, len(text))
        cache.keep(doc_id, xmin, state)

    patch = parse_json(patch_text)
    canonical.refuse_out_of_range(patch, patch_text)
    applied = apply(state.tree, patch, max_operations, copy_on_write=True, limits=limits)
    if applied.sqlstate:
        return Written(sqlstate=applied.sqlstate, message=applied.message, detail=applied.detail)
    document, inverse = applied.document, applied.inverse

    try:
        piece = pieces.build(document, state.piece)
        canonical_text, storage = pieces.join(piece)
    except canonical.NumberOutOfRange:
        canonical.refuse_out_of_range(document)
        raise
    limits.check_text(storage, "document_bytes", "the patched document")
    new_hash = canonical.hash_text(canonical_text)
    checked = check(
        document, schema_of, validation_cache,
        previous=_same_version(state.tree, document), jsonb_numbers=True, doc_hash=new_hash,
    )
    if checked.sqlstate:
        return Written(sqlstate=checked.sqlstate, message=checked.message, detail=checked.detail)
    cache.propose(doc_id, State(version + 1, new_hash, document, piece, len(storage)))
    return Written(
        doc_hash=new_hash,
        text=storage,
        inverse_text=pieces.storage_text(inverse),
        changed=changed_pointers(patch),
        patch_hash=canonical.hash_text(canonical.decimal_canonical_json(patch)),
    )


CATCH_UP_VERSIONS = 50  # beyond this many versions behind, read the document


def _caught_up(cache: DocumentCache, store: Store, doc_id: str, version: int, doc_hash: str) -> State | None:
    """The state of `version` from an earlier one this backend holds, with
    the patches written since applied to it; None when there is none, the
    earlier state is not the committed one, or the result is not the
    stored version."""
    held = cache.earlier(doc_id, version)
    if held is None or version - held[1].version > CATCH_UP_VERSIONS:
        return None
    row_xmin, state = held
    history = store.history(doc_id, state.version, version)
    # The versions row shares the document row's xmin: both are written by
    # the same statement sequence of the writer. Another xmin means the
    # state held is of a write that was rolled back.
    if history is None or history[:2] != (row_xmin, state.doc_hash) or len(history[2]) != version - state.version:
        return None
    tree = state.tree
    try:
        for patch_text in history[2]:
            check_interrupts()
            tree, _ = jsonpatch.apply(tree, parse_json(patch_text), max_operations=float("inf"), copy_on_write=True)
    except jsonpatch.PatchError:
        return None
    piece = pieces.build(tree, state.piece)
    canonical_text, storage = pieces.join(piece)
    if canonical.hash_text(canonical_text) != doc_hash:
        return None
    return State(version, doc_hash, tree, piece, len(storage))


def _same_version(previous: Any, document: Any) -> Any:
    """`previous` when the patch kept the schema_version, so only what it
    changed needs validating; else None (validate everything)."""
    version = previous.get("schema_version") if isinstance(previous, dict) else None
    if isinstance(version, str) and isinstance(document, dict) and document.get("schema_version") == version:
        return previous
    return None


def changed_pointers(patch: list) -> list[str]:
    """Where a patch that applied changed the document: the pointers it
    wrote, an add, remove, move or copy inside an array counting as a
    change of the whole array (its elements shift), none under another."""
    found = set()
    for operation in patch:
        name = operation["op"]
        if name == "test":
            continue
        for member in ("path", "from") if name == "move" else ("path",):
            pointer = operation[member]
            if name != "replace" and _ARRAY_STEP.search(pointer):
                pointer = pointer[: pointer.rfind("/")]
            found.add(pointer)
    kept: list[str] = []
    for pointer in sorted(found, key=len):
        if not any(other == "" or pointer.startswith(other + "/") for other in kept):
            kept.append(pointer)
    return sorted(kept)


def create(cache: DocumentCache, doc_id: str, doc_text: str, schema_of: SchemaLookup, validation_cache: dict) -> Written:
    """Check and hash a new document (JSON text) and propose it to `cache`
    as version 1, so that its first patch finds it there."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            tree, piece = pieces.from_text(doc_text)
            canonical_text, _ = pieces.join(piece)
        except canonical.NumberOutOfRange:
            canonical.refuse_out_of_range(parse_json(doc_text))
            raise
        doc_hash = canonical.hash_text(canonical_text)
        checked = check(tree, schema_of, validation_cache, jsonb_numbers=True, doc_hash=doc_hash)
        if checked.sqlstate:
            return Written(sqlstate=checked.sqlstate, message=checked.message, detail=checked.detail)
        cache.propose(doc_id, State(1, doc_hash, tree, piece, len(doc_text)))
        return Written(doc_hash=doc_hash)
    finally:
        if collecting:
            gc.enable()


class Server:
    """What the PL/Python functions of the write path share in a backend:
    the document cache (kept in GD, so it outlives their recompilation),
    the store it reads from and the schema registry, all through `plpy`."""

    def __init__(self, plpy: Any, GD: dict) -> None:
        self.plpy = plpy
        self.GD = GD
        self.text_plan = plpy.prepare(
            "select d.doc_json::text as t from odl.odl_documents as d"
            " where d.doc_id = $1 and d.version = $2 and d.xmin::text = $3",
            ["text", "integer", "text"],
        )
        self.history_plan = plpy.prepare(
            "select v.xmin::text as xmin, v.doc_hash, array("
            " select p.patch_json::text from odl.odl_patches as p"
            " where p.tenant_id = v.tenant_id and p.doc_id = v.doc_id and p.to_version > $2 and p.to_version <= $3"
            " order by p.to_version) as patches"
            " from odl.odl_document_versions as v where v.doc_id = $1 and v.version = $2",
            ["text", "integer", "integer"],
        )
        # One query a write: the hash of the schema (validators are cached
        # by it) and the cache's budget, a setting a DBA may change.
        self.lookup_plan = plpy.prepare(
            "select (select s.content_hash from odl.json_schemas as s where s.version = $1) as content_hash,"
            " coalesce(nullif(current_setting('odl.document_cache_mb', true), ''), '256')::integer as mb",
            ["text"],
        )
        self.schema_plan = plpy.prepare("select schema::text as s from odl.json_schemas where version = $1", ["text"])
        self.limits_plan = plpy.prepare("select odl.limit_values()::text as l")
        guards.install(plpy)

    def limits(self) -> Limits:
        """The limits now (a DBA may change them at any time)."""
        return Limits(json.loads(self.plpy.execute(self.limits_plan)[0]["l"]))

    @property
    def cache(self) -> DocumentCache:
        cache = self.GD.get("odl_document_cache")
        if not isinstance(cache, DocumentCache):  # new, or made by a module since replaced
            cache = self.GD["odl_document_cache"] = DocumentCache(256 * 1048576)
        return cache

    @property
    def validation_cache(self) -> dict:
        return self.GD.setdefault("odl_validation", {})

    def text(self, doc_id: str, version: int, xmin: str) -> str | None:
        rows = self.plpy.execute(self.text_plan, [doc_id, version, xmin])
        return rows[0]["t"] if rows else None

    def history(self, doc_id: str, version: int, upto: int) -> tuple[str, str, list[str]] | None:
        rows = self.plpy.execute(self.history_plan, [doc_id, version, upto])
        return (rows[0]["xmin"], rows[0]["doc_hash"], rows[0]["patches"]) if rows else None

    def schema_of(self, schema_version: str) -> Any:
        row = self.plpy.execute(self.lookup_plan, [schema_version])[0]
        self.cache.budget_bytes = row["mb"] * 1048576  # applies from the next state kept
        key = row["content_hash"]
        if key is None:
            return None
        schemas = self.GD.setdefault("odl_schemas", {})
        if key not in schemas:
            schemas[key] = parse_json(self.plpy.execute(self.schema_plan, [schema_version])[0]["s"])
        return schemas[key]
