"""Writing a document: apply a patch, check the result, hash it.

Failures come back as data, an (sqlstate, message, detail) triple, rather
than as exceptions: PL/Python prefixes every error it raises with the
exception's class name, so the SQL API raises them itself, cleanly. Every
failing JSON pointer is named in the detail, one per line.
"""

from __future__ import annotations

import gc
import hashlib
import json
import operator
import re
from collections import OrderedDict
from decimal import Decimal
from typing import Any, Callable, NamedTuple, Protocol

from odl_db import canonical, guards, integrity, jsonpatch, pieces, validation
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
    # The storage form when some sub-tree lives outside the document (see
    # Stored): the document without them, which pointers are external and
    # by which blobs (JSON), and the blobs the database may not hold yet.
    stored_text: str | None = None
    external_text: str | None = None
    blob_hashes: list[str] | None = None
    blob_texts: list[str] | None = None


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
    # pointer -> [(sha256, piece of the blob's sub-tree, or pieces of its elements)] for the
    # sub-trees this version keeps outside the document; None when stored whole.
    parts: dict | None = None


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

    def stored(self, doc_id: str, version: int, xmin: str) -> tuple[str, dict | None] | None:
        """The stored document as JSON text, with its external column
        (pointer -> blob addresses; None when stored whole), if its row is
        still that version with that xmin (a dry run reads without the row
        lock), else None."""

    def blobs(self, hashes: list[str]) -> list[Blob]:
        """The blobs with these addresses, in order (BlobError when one is
        missing)."""

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
    external: str | None = None,
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

    `external` is the row's external column (JSON text): the pointers it
    keeps outside stay outside (external_pointers), and the result comes
    with its storage form when any does.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _write(
            cache, store, doc_id, version, doc_hash, xmin, patch_text, schema_of, validation_cache, max_operations,
            limits, external,
        )
    finally:
        if collecting:
            gc.enable()


def _write(
    cache, store, doc_id, version, doc_hash, xmin, patch_text, schema_of, validation_cache, max_operations, limits,
    external,
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
            stored = store.stored(doc_id, version, xmin)
            if stored is None:
                return Written(
                    sqlstate="ODV01",
                    message="version conflict",
                    # odl.write_patch names the version now current.
                    detail=json.dumps({"doc_id": doc_id, "expected_version": version, "current_version": None}),
                )
            text, outside = stored
            if outside:
                tree, piece, chars, parts = resolve_stored(text, outside, store.blobs)
            else:
                tree, piece = pieces.from_text(text)
                chars, parts = len(text), None
            state = State(version, doc_hash, tree, piece, chars, parts)
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
    fields, parts = storage_outcome(piece, state.parts, json.loads(external) if external else ())
    cache.propose(doc_id, State(version + 1, new_hash, document, piece, len(storage), parts))
    return Written(
        doc_hash=new_hash,
        text=storage,
        inverse_text=pieces.storage_text(inverse),
        changed=changed_pointers(patch),
        patch_hash=canonical.hash_text(canonical.decimal_canonical_json(patch)),
        **fields,
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
    return State(version, doc_hash, tree, piece, len(storage), state.parts)


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
        fields, parts = storage_outcome(piece, None, ())
        cache.propose(doc_id, State(1, doc_hash, tree, piece, len(doc_text), parts))
        return Written(doc_hash=doc_hash, **fields)
    finally:
        if collecting:
            gc.enable()


# --- Sub-trees outside the document (external references) ------------------
#
# A document may keep large sub-trees outside its row: its instances when
# it declares them external (integrity.instances_external) and holds more
# than its instance_threshold, and any array or object a writer marked
# (odl_set_external). odl_documents.doc_json then holds the document with
# each such sub-tree written as an empty container of its type, and
# odl_documents.external names them: pointer -> the SHA-256 of its blobs in
# odl.document_blobs, in order. An array is cut into segments of
# SEGMENT_ELEMENTS elements, each a blob, so that a patch to one element
# writes one new blob; any other sub-tree is one blob. A blob is addressed by
# the SHA-256 of its RFC 8785 text, so it never changes, and a backend keeps
# the ones it read in a BlobCache that can never serve stale content. The
# external column alone says what is external: a user's own {"$ref": ...}
# object is content like any other.

SEGMENT_ELEMENTS = 1000
INSTANCE_THRESHOLD = 10_000  # data_management.scalability_strategies.instance_threshold, when absent


class BlobError(ValueError):
    """A blob the document references is missing or does not match its address."""

    def __init__(self, sqlstate: str, message: str, detail: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.detail = detail


class Blob(NamedTuple):
    value: Any  # the segment's elements (a list), or the sub-tree
    piece: pieces.Piece
    chars: int


class BlobCache:
    """Blobs this backend read, least recently used first out once their
    estimated memory exceeds `budget_bytes`. Keyed by content address."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.blobs: OrderedDict[str, Blob] = OrderedDict()
        self.chars = 0
        self.counts = {"hits": 0, "misses": 0}

    def get(self, sha: str) -> Blob | None:
        blob = self.blobs.get(sha)
        if blob is not None:
            self.blobs.move_to_end(sha)
        return blob

    def put(self, sha: str, blob: Blob) -> None:
        if sha in self.blobs:
            return
        self.blobs[sha] = blob
        self.chars += blob.chars
        while len(self.blobs) > 1 and self.chars * BYTES_PER_CHAR > self.budget_bytes:
            self.chars -= self.blobs.popitem(last=False)[1].chars

    def stats(self) -> dict:
        return {
            "blobs": len(self.blobs), "chars": self.chars, "estimated_bytes": self.chars * BYTES_PER_CHAR,
            "budget_bytes": self.budget_bytes, **self.counts,
        }


def blob_address(canonical_text: str) -> str:
    return hashlib.sha256(canonical_text.encode("utf-8")).hexdigest()


def blob_from_text(sha: str, text: str) -> Blob:
    """A blob read from the database, checked against its address."""
    value, piece = pieces.from_text(text)
    if blob_address(pieces.join(piece)[0]) != sha:
        raise BlobError("ODB04", "blob does not match its address", f"sha256 {sha}")
    return Blob(value, piece, len(text))


def _threshold(doc: dict) -> int:
    """scalability_strategies.instance_threshold (odl-db's thresholds are
    no substitute for the spec's names), else the format's 10,000."""
    dm = doc.get("data_management")
    strategies = dm.get("scalability_strategies") if isinstance(dm, dict) else None
    value = strategies.get("instance_threshold") if isinstance(strategies, dict) else None
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool) and value == int(value) and value >= 0:
        return int(value)
    return INSTANCE_THRESHOLD


def instances_outside(doc: Any) -> bool:
    """The format's rule: a document that declares its instances external
    and holds more than its instance_threshold keeps them outside."""
    if not isinstance(doc, dict):
        return False
    instances = doc.get("instances")
    return isinstance(instances, list) and len(instances) > _threshold(doc) and integrity.instances_external(doc)


def pointer_path(doc: Any, pointer: str) -> tuple | None:
    """The steps (member names, array indexes) of an RFC 6901 pointer to a
    non-empty array or object of `doc`; None when it names nothing of the
    kind, or the whole document."""
    if not pointer.startswith("/"):
        return None
    node = doc
    path: list = []
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            path.append(token)
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and (token == "0" or token[0] != "0") and int(token) < len(node):
            path.append(int(token))
            node = node[int(token)]
        else:
            return None
    return tuple(path) if isinstance(node, (dict, list)) and node else None


def external_pointers(doc: Any, kept: Any = ()) -> list[str]:
    """Where `doc` keeps sub-trees outside: the pointers kept before that
    still name a non-empty array or object, and /instances by the format's
    rule; none inside another."""
    chosen = {pointer for pointer in kept if pointer_path(doc, pointer) is not None}
    if instances_outside(doc):
        chosen.add("/instances")
    outer: list[str] = []
    for pointer in sorted(chosen, key=len):
        if not any(pointer.startswith(other + "/") for other in outer):
            outer.append(pointer)
    return sorted(outer)


class Stored(NamedTuple):
    """A document's storage form when some sub-tree lives outside it."""

    text: str  # the document without them
    external: dict  # pointer -> [sha256, ...]
    new_hashes: list[str]  # blobs the previous state did not reference
    new_texts: list[str]
    parts: dict  # for State.parts


def stored_form(piece: pieces.Piece, pointers: list[str], previous: dict | None) -> Stored:
    """The storage form of the document `piece` holds with `pointers`
    outside. A segment whose elements are the very pieces of the previous
    state's segment (copy on write: unchanged) keeps its blob."""
    document = piece.node
    replaced: dict[tuple, str] = {}
    external: dict[str, list[str]] = {}
    new_hashes: list[str] = []
    new_texts: list[str] = []
    parts: dict = {}
    for pointer in pointers:
        path = pointer_path(document, pointer)
        target = piece
        for depth, step in enumerate(path):
            target = pieces.split(target, depth).children[step]
        old = (previous or {}).get(pointer) or []
        segments: list = []
        if isinstance(target.node, list):
            elements = pieces.split(target, len(path)).children
            for number, start in enumerate(range(0, len(elements), SEGMENT_ELEMENTS)):
                chunk = elements[start : start + SEGMENT_ELEMENTS]
                before = old[number] if number < len(old) else None
                if (
                    before is not None and isinstance(before[1], list) and len(before[1]) == len(chunk)
                    and all(map(operator.is_, before[1], chunk))
                ):
                    segments.append(before)
                    continue
                texts = [pieces.texts(element) for element in chunk]
                sha = blob_address("[" + ",".join([text[0] for text in texts]) + "]")
                new_hashes.append(sha)
                new_texts.append("[" + ",".join([text[1] for text in texts]) + "]")
                segments.append((sha, chunk))
            replaced[path] = "[]"
        else:
            before = old[0] if old else None
            if before is not None and before[1] is target:
                segments.append(before)
            else:
                canonical_text, storage = pieces.texts(target)
                sha = blob_address(canonical_text)
                new_hashes.append(sha)
                new_texts.append(storage)
                segments.append((sha, target))
            replaced[path] = "{}"
        parts[pointer] = segments
        external[pointer] = [sha for sha, _ in segments]
    return Stored(pieces.storage_replacing(piece, replaced), external, new_hashes, new_texts, parts)


def resolve_stored(text: str, external: dict, fetch: Callable[[list[str]], list[Blob]]) -> tuple:
    """(tree, piece, chars, parts) of a stored document: its text with each
    external sub-tree put back from its blobs (`fetch`, in order)."""
    tree, piece = pieces.from_text(text)
    chars = len(text)
    parts: dict = {}
    for pointer, hashes in external.items():
        steps = [raw.replace("~1", "/").replace("~0", "~") for raw in pointer[1:].split("/")]
        parent, parent_piece = tree, pieces.split(piece, 0, fresh=True)
        for depth, step in enumerate(steps[:-1]):
            step = int(step) if isinstance(parent, list) else step
            parent, parent_piece = parent[step], pieces.split(parent_piece.children[step], depth + 1, fresh=True)
        last = int(steps[-1]) if isinstance(parent, list) else steps[-1]
        blobs = fetch(hashes)
        if isinstance(parent[last], list):
            elements: list = []
            element_pieces: list = []
            segments: list = []
            for sha, blob in zip(hashes, blobs):
                elements.extend(blob.value)
                element_pieces.extend(blob.piece.children)
                segments.append((sha, blob.piece.children))
            node, node_piece = elements, pieces.Piece(elements, None, None, element_pieces)
        else:
            node, node_piece = blobs[0].value, blobs[0].piece
            segments = [(hashes[0], node_piece)]
        parent[last] = node
        parent_piece.children[last] = node_piece
        chars += sum(blob.chars for blob in blobs)
        parts[pointer] = segments
    return tree, piece, chars, parts


def storage_outcome(piece: pieces.Piece, state_parts: dict | None, kept: Any) -> tuple[dict, dict | None]:
    """The Written fields and the State.parts of a version about to be
    stored: whole (no fields, no parts) or in its storage form."""
    pointers = external_pointers(piece.node, kept)
    if not pointers:
        return {}, None
    stored = stored_form(piece, pointers, state_parts)
    return (
        {
            "stored_text": stored.text,
            "external_text": json.dumps(stored.external, sort_keys=True),
            "blob_hashes": stored.new_hashes,
            "blob_texts": stored.new_texts,
        },
        stored.parts,
    )


class Server:
    """What the PL/Python functions of the write path share in a backend:
    the document cache (kept in GD, so it outlives their recompilation),
    the store it reads from and the schema registry, all through `plpy`."""

    def __init__(self, plpy: Any, GD: dict) -> None:
        self.plpy = plpy
        self.GD = GD
        self.text_plan = plpy.prepare(
            "select d.doc_json::text as t, d.external::text as e, d.tenant_id from odl.odl_documents as d"
            " where d.doc_id = $1 and d.version = $2 and d.xmin::text = $3",
            ["text", "integer", "text"],
        )
        self.blob_plan = plpy.prepare(
            "select b.sha256, b.content::text as t from odl.document_blobs as b"
            " where b.tenant_id = $1 and b.sha256 = any($2)",
            ["text", "text[]"],
        )
        self.tenant_id: str | None = None
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
            " coalesce(nullif(current_setting('odl.document_cache_mb', true), ''), '256')::integer as mb,"
            " coalesce(nullif(current_setting('odl.blob_cache_mb', true), ''), '64')::integer as blob_mb",
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

    @property
    def blob_cache(self) -> BlobCache:
        cache = self.GD.get("odl_blob_cache")
        if not isinstance(cache, BlobCache):
            cache = self.GD["odl_blob_cache"] = BlobCache(64 * 1048576)
        return cache

    def stored(self, doc_id: str, version: int, xmin: str) -> tuple[str, dict | None] | None:
        rows = self.plpy.execute(self.text_plan, [doc_id, version, xmin])
        if not rows:
            return None
        self.tenant_id = rows[0]["tenant_id"]
        return rows[0]["t"], json.loads(rows[0]["e"]) if rows[0]["e"] is not None else None

    def blobs(self, hashes: list[str]) -> list[Blob]:
        """Through the backend's LRU cache; the missing ones in one query,
        each checked against its address."""
        cache = self.blob_cache
        found = {sha: cache.get(sha) for sha in dict.fromkeys(hashes)}
        missing = [sha for sha, blob in found.items() if blob is None]
        cache.counts["hits"] += len(found) - len(missing)
        cache.counts["misses"] += len(missing)
        if missing:
            for row in self.plpy.execute(self.blob_plan, [self.tenant_id, missing]):
                check_interrupts()
                blob = found[row["sha256"]] = blob_from_text(row["sha256"], row["t"])
                cache.put(row["sha256"], blob)
        absent = [sha for sha, blob in found.items() if blob is None]
        if absent:
            raise BlobError("ODB01", "document references a blob that is missing", f"sha256 {absent[0]}")
        return [found[sha] for sha in hashes]

    def history(self, doc_id: str, version: int, upto: int) -> tuple[str, str, list[str]] | None:
        rows = self.plpy.execute(self.history_plan, [doc_id, version, upto])
        return (rows[0]["xmin"], rows[0]["doc_hash"], rows[0]["patches"]) if rows else None

    def schema_of(self, schema_version: str) -> Any:
        row = self.plpy.execute(self.lookup_plan, [schema_version])[0]
        self.cache.budget_bytes = row["mb"] * 1048576  # applies from the next state kept
        self.blob_cache.budget_bytes = row["blob_mb"] * 1048576
        key = row["content_hash"]
        if key is None:
            return None
        schemas = self.GD.setdefault("odl_schemas", {})
        if key not in schemas:
            schemas[key] = parse_json(self.plpy.execute(self.schema_plan, [schema_version])[0]["s"])
        return schemas[key]
