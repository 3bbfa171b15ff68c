"""Connections and pools that set the tenant context in every transaction,
and the typed application API (OdlSession) used inside one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from .document_types import ClassificationLevel, HierarchyLevel, OdlDocument, ProjectPhase, Role, SectionName
from .errors import DocumentError, OdlError, translated
from .models import (
    ApprovalResult,
    Change,
    ChangeRequest,
    ChangeStatus,
    Decision,
    DocumentHead,
    DocumentRead,
    Finding,
    HistoryEntry,
    Limit,
    PatchOperation,
    PatchResult,
    Region,
    UserRecord,
    from_row,
)

T = TypeVar("T")

TokenSource = Callable[[str, str], str]
"""Gives the context token of (tenant_id, user_id) in token mode: the token the
login service issued when it authenticated that user (see OdlAuth)."""


def connection_kwargs(transaction_pooling: bool = False) -> dict[str, Any]:
    """psycopg.connect() options the client needs: autocommit, so that each
    transaction() is exactly one BEGIN ... COMMIT; and, behind a pooler in
    transaction mode (pgbouncer), no server-side prepared statements."""
    kwargs: dict[str, Any] = {"autocommit": True}
    if transaction_pooling:
        kwargs["prepare_threshold"] = None
    return kwargs


def _checked(kind: type[T], function: str, value: Any) -> T:
    if not isinstance(value, kind):
        raise OdlError(f"odl.{function}() returned {type(value).__name__}, not {kind.__name__}")
    return value


def _call(function: str, args: Sequence[Any], named: Mapping[str, Any], table: bool) -> tuple[str, list[Any]]:
    """SQL calling odl.<function>; named arguments left None take the function's default."""
    given = {name: value for name, value in named.items() if value is not None}
    placeholders = ["%s"] * len(args) + [f"{name} => %s" for name in given]
    call = f"odl.{function}({', '.join(placeholders)})"
    return (f"select * from {call}" if table else f"select {call}"), [*args, *given.values()]


class OdlSession:
    """The API inside one transaction, acting as (tenant_id, user_id).

    Methods raise OdlError subclasses; an error aborts the transaction.
    """

    def __init__(self, conn: psycopg.Connection[Any], tenant_id: str, user_id: str) -> None:
        self.connection = conn
        self.tenant_id = tenant_id
        self.user_id = user_id

    # -- plumbing ---------------------------------------------------------------
    def _fetch(self, function: str, args: Sequence[Any] = (), named: Mapping[str, Any] | None = None,
               table: bool = True) -> list[dict[str, Any]]:
        query, params = _call(function, args, named or {}, table)
        with translated(), self.connection.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    def _rows(self, cls: type[T], function: str, args: Sequence[Any] = (),
              named: Mapping[str, Any] | None = None) -> list[T]:
        return [from_row(cls, row) for row in self._fetch(function, args, named)]

    def _scalar(self, kind: type[T], function: str, args: Sequence[Any] = (),
                named: Mapping[str, Any] | None = None) -> T:
        (row,) = self._fetch(function, args, named, table=False)
        return _checked(kind, function, next(iter(row.values())))

    # -- projects and documents ---------------------------------------------------
    def create_project(self, name: str, phase: ProjectPhase = "design",
                       classification: ClassificationLevel = "internal") -> str:
        """A new project of the tenant, created by the acting user; its id."""
        return self._scalar(str, "odl_create_project", (name, phase, classification))

    def set_phase(self, project_id: str, phase: ProjectPhase) -> str:
        """Asks to move the project to the next phase; the change request's id."""
        return self._scalar(str, "odl_set_project_phase", (project_id, phase))

    def create_document(self, project_id: str, document: OdlDocument | Mapping[str, Any]) -> str:
        """Validates and stores the document as version 1; its id."""
        return self._scalar(str, "odl_create_document", (project_id, Jsonb(document)))

    def validate_document(self, document: OdlDocument | Mapping[str, Any]) -> list[Finding]:
        """Findings (errors and warnings) without storing anything."""
        return self._rows(Finding, "odl_validate_document", (Jsonb(document),))

    def apply_patch(
        self,
        doc_id: str,
        patch: Sequence[PatchOperation],
        expected_version: int,
        *,
        intent: str | None = None,
        evidence_uris: Sequence[str] = (),
        tool_version: str | None = None,
        dry_run: bool = False,
        propose: bool = False,
    ) -> PatchResult:
        """Applies an RFC 6902 patch to expected_version (VersionConflict if it is not
        current), or holds it as a change request (outcome "proposed")."""
        (result,) = self._rows(
            PatchResult,
            "odl_apply_patch",
            (doc_id, Jsonb(list(patch)), expected_version),
            {"intent": intent, "evidence_uris": list(evidence_uris), "tool_version": tool_version,
             "dry_run": dry_run, "propose": propose},
        )
        return result

    def set_external(self, doc_id: str, pointer: str, external: bool, expected_version: int) -> dict[str, list[str]]:
        """Keeps the array or object at pointer outside the document as blobs (or brings it back); the version and
        content stay. The document's external column: pointer -> blob addresses."""
        return self._scalar(dict, "odl_set_external", (doc_id, pointer, external, expected_version))

    def revert(self, doc_id: str, to_version: int, expected_version: int) -> PatchResult:
        """A new version equal to to_version."""
        (result,) = self._rows(PatchResult, "odl_revert_document", (doc_id, to_version, expected_version))
        return result

    def head(self, doc_id: str) -> DocumentHead:
        """The document's current version and hash."""
        # TODO(issue 11): odl_document_heads() takes a project, not a document, so
        # this reads every head of the tenant; wants odl_document_heads(doc_id => ...)
        # or odl_get_document() returning version and doc_hash.
        rows = [from_row(DocumentHead, row) for row in self._fetch_heads_of(doc_id)]
        if not rows:
            self._fetch("odl_get_document", (doc_id,))  # the server's own ODD01 or ODR01
            raise DocumentError("document does not exist", sqlstate="ODD01", detail=f"doc_id {doc_id}")
        return rows[0]

    def _fetch_heads_of(self, doc_id: str) -> list[dict[str, Any]]:
        with translated(), self.connection.cursor(row_factory=dict_row) as cur:
            return cur.execute("select * from odl.odl_document_heads() where doc_id = %s", (doc_id,)).fetchall()

    def get_document(self, doc_id: str, version: int | None = None) -> DocumentRead:
        """The document at version (default: the current one), as the user may read it."""
        if version is None:
            version = self.head(doc_id).version
        (row,) = self._fetch("odl_get_document", (doc_id, version))
        return DocumentRead(doc_id, version, row["document"], row["redacted"])

    def heads(self, project_id: str | None = None) -> list[DocumentHead]:
        """Current version and hash of each readable document (of one project)."""
        return self._rows(DocumentHead, "odl_document_heads", (), {"project_id": project_id})

    def history(self, doc_id: str) -> list[HistoryEntry]:
        """Every version of the document, oldest first."""
        return self._rows(HistoryEntry, "odl_document_history", (doc_id,))

    def changes_since(self, after: str | None = None, max_count: int = 1000) -> list[Change]:
        """The change feed after a position (None: from the start)."""
        return self._rows(Change, "odl_changes_since", (after, max_count))

    # -- change requests ---------------------------------------------------------
    def change_requests(self, project_id: str | None = None,
                        status: ChangeStatus | None = "pending") -> list[ChangeRequest]:
        """Change requests of the tenant (of one project; None status: all)."""
        return self._rows(ChangeRequest, "odl_change_requests", (project_id, status))

    def approve(self, change_id: str, outcome: Decision = "approved", comment: str | None = None) -> ApprovalResult:
        """Approves (merges) or rejects a pending change request."""
        (result,) = self._rows(ApprovalResult, "odl_approve_change", (change_id, outcome, comment))
        return result

    # -- hierarchy and rights ----------------------------------------------------
    def create_node(self, parent_id: str | None, level: HierarchyLevel, name: str) -> str:
        """A node of the hierarchy; its id."""
        return self._scalar(str, "odl_create_node", (parent_id, level, name))

    def attach_project(self, project_id: str, node_id: str) -> None:
        """Hangs the project under the node."""
        self._fetch("odl_attach_project", (project_id, node_id), table=False)

    def assign_role(self, user_id: str, node_id: str, role: Role, valid_from: datetime | None = None,
                    valid_until: datetime | None = None) -> str:
        """A role for the user at the node; the assignment's id."""
        return self._scalar(str, "odl_assign_role", (user_id, node_id, role),
                            {"valid_from": valid_from, "valid_until": valid_until})

    def revoke_role(self, user_id: str, node_id: str, role: Role) -> int:
        """Ends the user's assignments of the role at the node; how many."""
        return self._scalar(int, "odl_revoke_role", (user_id, node_id, role))

    def effective_rights(self, user_id: str, node_or_project: str, section: SectionName) -> str:
        """The rights (e.g. "RW") the user holds on a section there."""
        return self._scalar(str, "odl_effective_rights", (user_id, node_or_project, section))

    def explain_access(self, user_id: str, node_or_project: str,
                       section: SectionName | None = None) -> dict[str, Any]:
        """Why the user holds those rights (on one section, or all): the path, each
        assignment on it with its status, the rights, the phase gates and approvals."""
        return self._scalar(dict, "odl_explain_access", (user_id, node_or_project, section))

    # -- audit and limits --------------------------------------------------------
    def audit_log(self, action: str, payload: Mapping[str, Any]) -> int:
        """Records app.<action> in the tenant's audit chain; its seq."""
        return self._scalar(int, "odl_audit_log", (action, Jsonb(payload)))

    def limits(self) -> list[Limit]:
        """The limits the database enforces, with their SQLSTATEs."""
        return self._rows(Limit, "odl_limits")


def _token(tokens: TokenSource | None, tenant_id: str, user_id: str, token: str | None) -> str | None:
    if token is None and tokens is not None:
        return tokens(tenant_id, user_id)
    return token


def _set_context(conn: psycopg.Connection[Any], tenant_id: str, user_id: str, token: str | None) -> None:
    if token is None:
        conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
    else:
        conn.execute("select odl.odl_set_context(%s, %s, %s)", (tenant_id, user_id, token))


@contextmanager
def _context_transaction(conn: psycopg.Connection[Any], tenant_id: str, user_id: str,
                         token: str | None) -> Iterator[OdlSession]:
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise OdlError("the connection is inside a transaction: the context needs a transaction of its own")
    with translated(), conn.transaction():
        _set_context(conn, tenant_id, user_id, token)
        yield OdlSession(conn, tenant_id, user_id)


class OdlConnection:
    """One psycopg connection; transaction() opens a transaction with the context set.

    In token mode pass each transaction its user's token, or give the
    connection a TokenSource (`tokens=`) that transaction() asks."""

    def __init__(self, conn: psycopg.Connection[Any], *, tokens: TokenSource | None = None) -> None:
        self.connection = conn
        self.tokens = tokens

    @classmethod
    def connect(cls, conninfo: str = "", *, transaction_pooling: bool = False, tokens: TokenSource | None = None,
                **kwargs: Any) -> OdlConnection:
        """Connects (libpq conninfo and PG* variables) as an application role."""
        with translated():
            conn = psycopg.connect(conninfo, **{**connection_kwargs(transaction_pooling), **kwargs})
        return cls(conn, tokens=tokens)

    def transaction(self, tenant_id: str, user_id: str, *,
                    token: str | None = None) -> AbstractContextManager[OdlSession]:
        """`with conn.transaction(tenant, user) as odl:` commits at the end, rolls back on error."""
        return _context_transaction(self.connection, tenant_id, user_id,
                                    _token(self.tokens, tenant_id, user_id, token))

    def act_as(self, tenant_id: str, user_id: str, *, token: str | None = None) -> OdlSession:
        """Sets the context inside a transaction the caller opened and ends
        (`with conn.connection.transaction(force_rollback=True):`), for work in
        which several users act in turn, such as a rehearsal rolled back at the
        end. transaction() is the usual way."""
        if self.connection.info.transaction_status == TransactionStatus.IDLE:
            raise OdlError("act_as() needs a transaction the caller opened; transaction() opens its own")
        token = _token(self.tokens, tenant_id, user_id, token)
        with translated():
            _set_context(self.connection, tenant_id, user_id, token)
        return OdlSession(self.connection, tenant_id, user_id)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> OdlConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OdlPool:
    """A psycopg_pool pool; each transaction() borrows a connection and sets the context."""

    def __init__(self, conninfo: str = "", *, transaction_pooling: bool = False, min_size: int = 1,
                 max_size: int = 4, tokens: TokenSource | None = None, **pool_kwargs: Any) -> None:
        self.tokens = tokens
        self.pool: ConnectionPool[Any] = ConnectionPool(
            conninfo, kwargs=connection_kwargs(transaction_pooling), min_size=min_size, max_size=max_size,
            open=True, **pool_kwargs,
        )

    @contextmanager
    def transaction(self, tenant_id: str, user_id: str, *, token: str | None = None) -> Iterator[OdlSession]:
        """`with pool.transaction(tenant, user) as odl:` commits at the end, rolls back on error.
        In token mode: the user's token, or the pool's TokenSource (`tokens=`) gives it."""
        token = _token(self.tokens, tenant_id, user_id, token)
        with translated(), self.pool.connection() as conn:
            with _context_transaction(conn, tenant_id, user_id, token) as session:
                yield session

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> OdlPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OdlAdmin:
    """Tenants and users, for a login that is a member of odl_admin (no context)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.connection = conn

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> OdlAdmin:
        with translated():
            return cls(psycopg.connect(conninfo, **{**connection_kwargs(), **kwargs}))

    def _scalar(self, kind: type[T], function: str, args: Sequence[Any],
                named: Mapping[str, Any] | None = None) -> T:
        query, params = _call(function, args, named or {}, table=False)
        with translated(), self.connection.transaction():
            row = self.connection.execute(query, params).fetchone()
        return _checked(kind, function, row[0] if row else None)

    def create_tenant(self, name: str, region: Region) -> str:
        """A new tenant; its id."""
        return self._scalar(str, "odl_create_tenant", (name, region))

    def create_user(self, tenant_id: str, email: str, role: Role, mfa_enabled: bool = True,
                    agent: str | None = None) -> str:
        """A new user of the tenant with a coarse role; its id."""
        return self._scalar(str, "odl_create_user", (tenant_id, email, role, mfa_enabled), {"agent": agent})

    def find_user(self, tenant_id: str, email: str) -> UserRecord | None:
        """The tenant's user with this e-mail address (any case), or None."""
        with translated(), self.connection.transaction(), self.connection.cursor(row_factory=dict_row) as cur:
            rows = cur.execute("select * from odl.odl_find_user(%s, %s)", (tenant_id, email)).fetchall()
        return from_row(UserRecord, rows[0]) if rows else None

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> OdlAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OdlAuth:
    """The login service (a login in role odl_auth). It authenticates users its
    own way, then issues each a short-lived context token, which applications
    pass to transaction() while the database is in token mode."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.connection = conn
        # One statement at a time: token sources are called from many threads.
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> OdlAuth:
        with translated():
            return cls(psycopg.connect(conninfo, **{**connection_kwargs(), **kwargs}))

    def issue_token(self, tenant_id: str, user_id: str, ttl_seconds: int | None = None) -> str:
        """A token for the user's contexts, valid ttl_seconds (the server's default: 300)."""
        query, params = _call("odl_issue_context_token", (tenant_id, user_id), {"ttl_seconds": ttl_seconds},
                              table=False)
        with translated(), self._lock:
            row = self.connection.execute(query, params).fetchone()
        return _checked(str, "odl_issue_context_token", row[0] if row else None)

    def token_source(self, ttl_seconds: int = 300) -> TokenSource:
        """A TokenSource that keeps each user's token and asks for a new one
        when less than a third of its lifetime is left."""
        kept: dict[tuple[str, str], tuple[str, float]] = {}

        def token(tenant_id: str, user_id: str) -> str:
            now = time.monotonic()
            held = kept.get((tenant_id, user_id))
            if held is None or held[1] - now < ttl_seconds / 3:
                held = (self.issue_token(tenant_id, user_id, ttl_seconds), now + ttl_seconds)
                kept[tenant_id, user_id] = held
            return held[0]

        return token

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> OdlAuth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
