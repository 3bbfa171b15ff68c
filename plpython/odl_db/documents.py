"""Writing a document: apply a patch, check the result, hash it.

Failures come back as data, an (sqlstate, message, detail) triple, rather
than as exceptions: PL/Python prefixes every error it raises with the
exception's class name, so the SQL API raises them itself, cleanly. Every
failing JSON pointer is named in the detail, one per line.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, NamedTuple

from odl_db import canonical, jsonpatch, validation

PATCH_SQLSTATES = {
    "malformed_patch": "ODP01",
    "too_many_operations": "ODP02",
    "path_not_found": "ODP03",
    "test_failed": "ODP04",
}
SCHEMA_INVALID = "ODS01"
INTEGRITY_VIOLATION = "ODS02"
RESULTS_KEPT = 256  # validation results cached per backend

# The schema of a schema_version, or None when it is not registered.
SchemaLookup = Callable[[str], Any]


class Outcome(NamedTuple):
    document: Any = None
    inverse: list | None = None
    doc_hash: str | None = None
    sqlstate: str | None = None
    message: str | None = None
    detail: str | None = None


def apply(doc: Any, patch: Any, max_operations: int | None = 100) -> Outcome:
    """The patched document and its inverse, without checks."""
    try:
        document, inverse = jsonpatch.apply(
            doc, patch, max_operations=max_operations if max_operations is not None else float("inf")
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
) -> Outcome:
    """Apply `patch` to `doc`, then check and hash the result."""
    outcome = apply(doc, patch, max_operations)
    if outcome.sqlstate:
        return outcome
    checked = check(outcome.document, schema_of, cache)
    return checked._replace(document=outcome.document, inverse=outcome.inverse)


def check(doc: Any, schema_of: SchemaLookup, cache: dict) -> Outcome:
    """The document's hash if it is valid; otherwise every failing pointer.

    Results are cached by (schema hash, document hash), so a document checked
    once, by a dry run for example, is not validated again.
    """
    doc_hash = canonical.content_hash(doc)
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    schema = schema_of(version) if isinstance(version, str) else None
    if schema is None:
        errors = validation.integrity_errors(doc, supported_versions=())
        return _failure(INTEGRITY_VIOLATION, "document violates the integrity rules", errors)

    results = cache.setdefault("results", OrderedDict())
    key = (canonical.content_hash(schema), doc_hash)
    if key not in results:
        results[key] = (
            validation.schema_errors(doc, schema, cache),
            validation.integrity_errors(doc, supported_versions=(version,)),
        )
        while len(results) > RESULTS_KEPT:
            results.popitem(last=False)
    results.move_to_end(key)
    schema_problems, integrity_problems = results[key]
    if schema_problems:
        return _failure(SCHEMA_INVALID, f"document does not match the schema of version {version}", schema_problems)
    if integrity_problems:
        return _failure(INTEGRITY_VIOLATION, "document violates the integrity rules", integrity_problems)
    return Outcome(doc_hash=doc_hash)


def replay(doc: Any, patches: list) -> Any:
    """`doc` after each patch in turn (stored patches, known to apply)."""
    for patch in patches:
        doc, _ = jsonpatch.apply(doc, patch, max_operations=float("inf"))
    return doc


def _failure(sqlstate: str, message: str, errors: list[tuple[str, str]]) -> Outcome:
    detail = "\n".join(f"{pointer or '(root)'}: {text}" for pointer, text in errors)
    count = len(errors)
    return Outcome(
        sqlstate=sqlstate,
        message=f"{message} ({count} error{'s' if count != 1 else ''})",
        detail=detail,
    )
