"""odl-db's Python client: connections and pools that set the tenant context
in every transaction, the application API with typed results, exceptions per
SQLSTATE class, and ODL-SD document types generated from the JSON Schema."""

from .client import OdlAdmin, OdlAuth, OdlConnection, OdlPool, OdlSession, TokenSource, connection_kwargs
from .errors import (
    ERROR_CLASSES,
    AiError,
    AuditError,
    BlobError,
    ComponentError,
    ConstraintViolation,
    ContextError,
    DocumentError,
    EpcisError,
    GateError,
    GraphError,
    HierarchyError,
    InsufficientPrivilege,
    InvalidValue,
    LifecycleError,
    LimitError,
    MonetisationError,
    OdlError,
    PatchError,
    ProcurementError,
    ProgramLimitExceeded,
    QueryCanceled,
    RegionError,
    RetentionError,
    RightsError,
    SchemaError,
    SearchError,
    TraceError,
    TransactionRollback,
    UlidError,
    VersionConflict,
    error_class,
)
from .regions import RegionInfo, RegionRouter, RegionTotals
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
    "ERROR_CLASSES", "AiError", "ApprovalResult", "AuditError", "Change", "ChangeRequest", "ComponentError",
    "ConstraintViolation", "ContextError", "DocumentError", "DocumentHead", "DocumentRead", "EpcisError", "Finding",
    "GateError", "GraphError", "HierarchyError", "HistoryEntry", "InsufficientPrivilege", "InvalidValue", "Limit",
    "LimitError", "OdlAdmin", "OdlAuth", "OdlConnection", "OdlError", "OdlPool", "OdlSession", "PatchError",
    "PatchOperation", "PatchResult", "ProcurementError", "ProgramLimitExceeded", "QueryCanceled", "RetentionError", "RightsError",
    "SchemaError", "TokenSource", "TransactionRollback", "UlidError", "UserRecord", "VersionConflict",
    "connection_kwargs", "error_class",
    "MonetisationError", "TraceError", "LifecycleError", "SearchError",
    "RegionError", "RegionInfo", "RegionRouter", "RegionTotals", "BlobError",
]
