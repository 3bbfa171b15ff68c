"""Typed results of the odl_ API functions (README, API)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Required, TypedDict, TypeVar

JsonValue = Any
Outcome = Literal["applied", "proposed"]
ChangeStatus = Literal["pending", "merged", "rejected"]
Decision = Literal["approved", "rejected"]
Region = Literal["US", "EU", "APAC"]

# RFC 6902 operation; "from" is a keyword, hence the functional form.
PatchOperation = TypedDict(
    "PatchOperation",
    {
        "op": Required[Literal["add", "remove", "replace", "move", "copy", "test"]],
        "path": Required[str],
        "value": JsonValue,
        "from": str,
    },
    total=False,
)


@dataclass(frozen=True, slots=True)
class PatchResult:
    """odl_apply_patch() / odl_revert_document(): an applied version, a dry run or a proposal."""

    version: int
    doc_hash: str
    outcome: Outcome
    inverse_patch: list[PatchOperation] | None = None
    document: dict[str, JsonValue] | None = None
    change_id: str | None = None
    redacted: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DocumentRead:
    """A document as the acting user may read it, at one version."""

    doc_id: str
    version: int
    document: dict[str, JsonValue]
    redacted: list[str]


@dataclass(frozen=True, slots=True)
class DocumentHead:
    """odl_document_heads(): the version to write against."""

    doc_id: str
    project_id: str
    version: int
    doc_hash: str
    schema_version: str | None = None
    valid_from: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """odl_document_history(): one version."""

    version: int
    doc_hash: str
    created_at: datetime
    created_by: str | None = None
    intent: str | None = None
    tool_version: str | None = None
    evidence_uris: list[str] | None = None
    operations: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """odl_change_requests(): a proposed patch or phase change."""

    change_id: str
    project_id: str
    kind: Literal["patch", "phase"]
    status: ChangeStatus
    author_id: str
    created_at: datetime
    doc_id: str | None = None
    base_version: int | None = None
    target_phase: str | None = None
    sections: list[str] = field(default_factory=list)
    reason: str | None = None
    intent: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    merged_version: int | None = None
    patch: list[PatchOperation] | None = None
    redacted: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ApprovalResult:
    """odl_approve_change(): the change's new status and, when merged, its version."""

    status: ChangeStatus
    version: int | None = None
    doc_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """odl_changes_since(): one version in the change feed."""

    position: str
    doc_id: str
    project_id: str
    version: int
    doc_hash: str
    created_at: datetime
    changed_pointers: list[str] | None = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """odl_validate_document(): one finding."""

    pointer: str
    severity: Literal["error", "warning"]
    message: str


@dataclass(frozen=True, slots=True)
class Limit:
    """odl_limits(): one limit and the SQLSTATE raised above it."""

    name: str
    value: int
    unit: str
    sqlstate: str
    description: str


@dataclass(frozen=True, slots=True)
class UserRecord:
    """odl_find_user(): a user an administrator looked up by e-mail."""

    user_id: str
    role: str
    mfa_enabled: bool
    agent: str | None = None


T = TypeVar("T")


def from_row(cls: type[T], row: Mapping[str, Any]) -> T:
    """cls from a row, by column name; columns the class does not know are ignored,
    so a newer database that adds result columns does not break the client."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in row.items() if k in names})
