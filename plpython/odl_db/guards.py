"""Guards for work a caller can make long or large.

PostgreSQL only notices statement_timeout and pg_cancel_backend() at its own
interrupt checks, which Python code never reaches: a loop in PL/Python runs
on after the timeout. `check_interrupts()` reads the backend's
InterruptPending flag (a C global, read in nanoseconds through ctypes) and,
only when it is set, runs a trivial statement, whose executor processes the
interrupt and raises the cancel error into Python like any SPI error. Every
loop whose length a caller controls calls it; outside a backend (pytest) it
does nothing. A PL/Python wrapper arms it with `install(plpy)`.

`failure()` turns whatever a call raised into the (sqlstate, message,
detail) triple that the SQL wrappers raise with odl.raise_failure(): an
error raised by PL/Python itself carries the exception's class name and a
traceback, which callers must never see.
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable

__all__ = [
    "NO_LIMITS",
    "Limits",
    "TooLarge",
    "attempt",
    "check_interrupts",
    "failure",
    "install",
    "nesting_depth",
]

_pending: Any = None  # ctypes view of InterruptPending, in a backend
_probe: Callable[[], Any] | None = None


def install(plpy: Any) -> None:
    """Arm check_interrupts() in this backend (idempotent)."""
    global _pending, _probe
    if _probe is None:
        _pending = ctypes.c_int.in_dll(ctypes.CDLL(None), "InterruptPending")
        plan = plpy.prepare("select 1")
        _probe = lambda: plpy.execute(plan)  # noqa: E731


def check_interrupts() -> None:
    """Raise the pending cancel (statement_timeout, pg_cancel_backend) as an
    SPI error; nothing when none is pending or outside a backend."""
    if _pending is not None and _pending.value:
        _probe()


def nesting_depth(value: Any, stop_after: int) -> int:
    """The nesting depth of parsed JSON (a scalar is 0, [] is 1), counted
    without recursion; stops early once it exceeds stop_after."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > stop_after:
                return deepest
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


class TooLarge(ValueError):
    """A value over a size limit (document_bytes, patch_bytes): SQLSTATE ODL01 or ODL03."""

    def __init__(self, sqlstate: str, limit: str, value: int, found: int, what: str, unit: str = "bytes") -> None:
        super().__init__(f"{what} is {found} {unit}, over the limit {limit} = {value}")
        self.sqlstate = sqlstate
        self.detail = f"limit={limit} value={value} found={found}"


def _line(text: str, longest: int = 200) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= longest else first[: longest - 3] + "..."


def failure(error: BaseException, spi_error: type | None = None) -> tuple[str, str, str | None]:
    """The (sqlstate, message, detail) a caller sees for an exception raised
    while serving them: one line, no class name, no traceback.

    - an SPI error (`spi_error`: plpy.SPIError), such as the cancel that
      check_interrupts() raises, keeps its SQLSTATE and message;
    - an exception with a `sqlstate` attribute (odl_db's own) keeps it;
    - RecursionError is nesting too deep (ODL02), which the limit
      nesting_depth refuses before Python sees it unless a DBA raised it
      past what Python can follow;
    - UnicodeError is 22P05 (untranslatable_character), MemoryError 53200
      (out_of_memory), anything else 22023 (invalid_parameter_value), with
      the message of a ValueError (odl_db writes them for callers) and
      none of any other exception's."""
    if spi_error is not None and isinstance(error, spi_error):
        sqlstate = getattr(error, "sqlstate", None) or "22023"
        message = error.args[0] if error.args and isinstance(error.args[0], str) else "the call failed"
        return sqlstate, _line(message), getattr(error, "detail", None)
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate, _line(str(error)), getattr(error, "detail", None)
    if isinstance(error, RecursionError):
        return "ODL02", "the value nests deeper than Python can follow", "limit=nesting_depth"
    if isinstance(error, UnicodeError):
        return "22P05", "the value holds a character that cannot be encoded as UTF-8 (a lone surrogate)", None
    if isinstance(error, MemoryError):
        return "53200", "out of memory while processing the value", None
    if isinstance(error, ValueError):
        return "22023", _line(f"the value cannot be processed: {error}"), None
    return "22023", "the value cannot be processed", None


class Limits:
    """The limits of odl.limits as the engine reads them: `values` maps a
    limit's name to (value, sqlstate), as odl.limit_values() gives them."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = {name: (int(pair[0]), str(pair[1])) for name, pair in values.items()}

    def value(self, name: str) -> int | None:
        held = self.values.get(name)
        return None if held is None else held[0]

    def check_text(self, text: str, name: str, what: str) -> None:
        """Raise TooLarge when the UTF-8 of `text` is larger than the limit
        `name`; encodes only a text that could be (over a quarter of it)."""
        held = self.values.get(name)
        if held is None or len(text) * 4 <= held[0]:
            return
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if size > held[0]:
            raise TooLarge(held[1], name, held[0], size, what)

    def check_count(self, count: int, name: str, what: str, unit: str) -> None:
        held = self.values.get(name)
        if held is not None and count > held[0]:
            raise TooLarge(held[1], name, held[0], count, what, unit)


NO_LIMITS = Limits({})


def attempt(plpy: Any, on_failure: Callable[..., Any], call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """call(*args, **kwargs) for a PL/Python wrapper: whatever it raises
    comes back as on_failure(sqlstate=..., message=..., detail=...) (see
    failure()), for the SQL wrapper to raise with odl.raise_failure()."""
    try:
        return call(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - every failure becomes data
        sqlstate, message, detail = failure(error, plpy.SPIError)
        return on_failure(sqlstate=sqlstate, message=message, detail=detail)
