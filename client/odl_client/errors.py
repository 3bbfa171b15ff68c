"""Exceptions: one class per SQLSTATE class odl-db raises (README, SQLSTATEs).

Every error carries the server's fields (sqlstate, message, detail, hint,
constraint) and the psycopg error as __cause__. An error aborts the
transaction: retry the whole transaction, not the statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import psycopg


class OdlError(Exception):
    """A failure reported by the database (or the connection to it)."""

    sqlstate_class: ClassVar[str] = ""

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
        constraint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint
        self.constraint = constraint

    def __str__(self) -> str:
        parts = [f"{self.sqlstate}: {self.message}" if self.sqlstate else self.message]
        if self.detail:
            parts.append(f"DETAIL: {self.detail}")
        return "\n".join(parts)


class AuditError(OdlError):
    """ODA: the audit ledger is append-only, or a digest is invalid."""

    sqlstate_class = "ODA"


class BlobError(OdlError):
    """ODB: sub-trees kept outside a document: a pointer that names nothing that can be kept outside, instances the
    document declares external, a missing or corrupt blob."""

    sqlstate_class = "ODB"


class ComponentError(OdlError):
    """ODK: a component status transition the machine forbids (from, to and why), or an unknown component."""

    sqlstate_class = "ODK"


class ContextError(OdlError):
    """ODC: no tenant context, a user outside the tenant, an unknown tenant, MFA."""

    sqlstate_class = "ODC"


class DocumentError(OdlError):
    """ODD: unknown document, project or version."""

    sqlstate_class = "ODD"


class EpcisError(OdlError):
    """ODE: a malformed EPCIS event (the detail names its JSON pointer), an eventID that is not its
    hash, an event captured twice, an error declaration of an unknown or already declared event."""

    sqlstate_class = "ODE"


class GateError(OdlError):
    """ODG: a phase gate or the order of phases."""

    sqlstate_class = "ODG"


class HierarchyError(OdlError):
    """ODH: a node level that does not fit, an unknown node or project."""

    sqlstate_class = "ODH"


class AiError(OdlError):
    """ODI: AI sessions (unknown session, message or tool-call protocol, summary, context over the token
    budget) and the CAG store (malformed request, stale dependency, semantic lookups unavailable)."""

    sqlstate_class = "ODI"


class LifecycleError(OdlError):
    """ODJ: lifecycle and billing: an AI session closed or past its maximum age, a plan change that changes
    nothing or is no upgrade, an invoice for a period that has not ended or overlaps one already invoiced."""

    sqlstate_class = "ODJ"


class LimitError(OdlError):
    """ODL: a size, depth or count above a limit of odl.limits."""

    sqlstate_class = "ODL"


class GraphError(OdlError):
    """ODN: a graph walk would go beyond its max_nodes or max_depth."""

    sqlstate_class = "ODN"


class MonetisationError(OdlError):
    """ODM: a PSU budget exceeded or missing, a reservation no longer held, an
    idempotency key reused for another request, an unknown plan, order,
    escrow or governance event, an escrow whose state forbids the act."""

    sqlstate_class = "ODM"


class PatchError(OdlError):
    """ODP: a malformed patch, too many operations, a missing path, a failed test."""

    sqlstate_class = "ODP"


class ProcurementError(OdlError):
    """ODQ: a procurement state that cannot move so, or an invariant the call would break (award, ordered,
    received, stock, serial, returned)."""

    sqlstate_class = "ODQ"


class RightsError(OdlError):
    """ODR: rights, roles, agents, and deciding change requests."""

    sqlstate_class = "ODR"


class SchemaError(OdlError):
    """ODS: the document breaks its JSON Schema or an integrity rule."""

    sqlstate_class = "ODS"


class RetentionError(OdlError):
    """ODT: an audit month to retire does not verify, or is not the oldest complete month."""

    sqlstate_class = "ODT"


class UlidError(OdlError):
    """ODU: ULID overflow."""

    sqlstate_class = "ODU"


class SearchError(OdlError):
    """ODX: embeddings and search: a vector of another dimension or model than the tenant declared, an invalid
    query vector, k outside 1 to 1000."""

    sqlstate_class = "ODX"


class VersionConflict(OdlError):
    """ODV: expected_version is not the current version; read it and retry.

    doc_id, expected_version and current_version come from the JSON DETAIL."""

    sqlstate_class = "ODV"

    def __init__(self, message: str, **fields: str | None) -> None:
        super().__init__(message, **fields)
        self.expected_version, self.current_version = versions_from_detail(self.detail)
        try:
            doc_id = json.loads(self.detail).get("doc_id") if self.detail else None
        except (ValueError, AttributeError):
            doc_id = None
        self.doc_id: str | None = doc_id if isinstance(doc_id, str) else None


class RegionError(OdlError):
    """ODW: data residency. A tenant created or set as context outside its home region, a region updated in
    place, a tenant being moved (writes refused at the source), a tenant the control plane does not route, a
    migration out of step."""

    sqlstate_class = "ODW"


class InvalidValue(OdlError):
    """22: a NULL, out-of-range or malformed argument."""

    sqlstate_class = "22"


class ConstraintViolation(OdlError):
    """23: a check, unique, foreign-key or not-null constraint (see .constraint)."""

    sqlstate_class = "23"


class TransactionRollback(OdlError):
    """40: serialization failure or deadlock; the transaction may be retried."""

    sqlstate_class = "40"


class InsufficientPrivilege(OdlError):
    """42501: the role may not do this, or RLS refused a row."""

    sqlstate_class = "42501"


class ProgramLimitExceeded(OdlError):
    """54: for example a JSON value nested too deeply to validate."""

    sqlstate_class = "54"


class QueryCanceled(OdlError):
    """57014: statement_timeout or a cancel stopped the call; nothing was written."""

    sqlstate_class = "57014"


class TraceError(OdlError):
    """ODF: traceability: an unknown serial, a component without a GTIN (EPCIS events cannot name it), a
    record move no EPCIS event records."""

    sqlstate_class = "ODF"


ERROR_CLASSES: dict[str, type[OdlError]] = {
    cls.sqlstate_class: cls
    for cls in (
        AuditError, ContextError, DocumentError, GateError, GraphError, HierarchyError, LimitError, PatchError,
        ProcurementError, RightsError, SchemaError, UlidError, VersionConflict, InvalidValue, ConstraintViolation,
        EpcisError, ComponentError, MonetisationError, AiError, TraceError, RetentionError, RegionError,
        LifecycleError, SearchError, BlobError,
        TransactionRollback, InsufficientPrivilege, ProgramLimitExceeded, QueryCanceled,
    )
}


def error_class(sqlstate: str | None) -> type[OdlError]:
    """The class for a SQLSTATE: the exact code, then its class (ODx or two characters)."""
    if not sqlstate:
        return OdlError
    for key in (sqlstate, sqlstate[:3] if sqlstate.startswith("OD") else sqlstate[:2]):
        if key in ERROR_CLASSES:
            return ERROR_CLASSES[key]
    return OdlError


def from_psycopg(error: psycopg.Error) -> OdlError:
    """The OdlError for a psycopg error, with the server's fields."""
    diag = error.diag
    sqlstate = diag.sqlstate or error.sqlstate
    return error_class(sqlstate)(
        diag.message_primary or str(error),
        sqlstate=sqlstate,
        detail=diag.message_detail,
        hint=diag.message_hint,
        constraint=diag.constraint_name,
    )


@contextmanager
def translated() -> Iterator[None]:
    """Raises psycopg errors of the block as OdlError subclasses."""
    try:
        yield
    except psycopg.Error as error:
        raise from_psycopg(error) from error


def versions_from_detail(detail: str | None) -> tuple[int | None, int | None]:
    """(expected, current) version of an ODV01 error, read from its DETAIL,
    the JSON object {"doc_id": ..., "expected_version": ..., "current_version": ...}."""
    try:
        fields = json.loads(detail) if detail else None
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return None, None
    expected, current = fields.get("expected_version"), fields.get("current_version")
    return (
        expected if isinstance(expected, int) and not isinstance(expected, bool) else None,
        current if isinstance(current, int) and not isinstance(current, bool) else None,
    )
