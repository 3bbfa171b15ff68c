"""odl-db's Python client: connections and pools that set the tenant context
in every transaction, the application API with typed results, exceptions per
SQLSTATE class, and ODL-SD document types generated from the JSON Schema."""

from .client import OdlAdmin, OdlConnection, OdlPool, OdlSession, connection_kwargs
from .errors import (
    ERROR_CLASSES,
    AiError,
    AuditError,
    ConstraintViolation,
    ContextError,
    DocumentError,
    GateError,
    HierarchyError,
    InsufficientPrivilege,
    InvalidValue,
    LimitError,
    OdlError,
    PatchError,
    ProgramLimitExceeded,
    QueryCanceled,
    RightsError,
    SchemaError,
    TransactionRollback,
    UlidError,
    VersionConflict,
    error_class,
)
from .models import (
    ApprovalResult,
    Change,
    ChangeRequest,
    DocumentHead,
    DocumentRead,
    Finding,
    HistoryEntry,
    Limit,
    PatchOperation,
    PatchResult,
    UserRecord,
)

__all__ = [
    "ERROR_CLASSES", "AiError", "ApprovalResult", "AuditError", "Change", "ChangeRequest", "ConstraintViolation",
    "ContextError", "DocumentError", "DocumentHead", "DocumentRead", "Finding", "GateError", "HierarchyError",
    "HistoryEntry", "InsufficientPrivilege", "InvalidValue", "Limit", "LimitError", "OdlAdmin", "OdlConnection",
    "OdlError", "OdlPool", "OdlSession", "PatchError", "PatchOperation", "PatchResult", "ProgramLimitExceeded",
    "QueryCanceled", "RightsError", "SchemaError", "TransactionRollback", "UlidError", "UserRecord", "VersionConflict",
    "connection_kwargs", "error_class",
]
