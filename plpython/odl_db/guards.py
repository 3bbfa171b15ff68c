"""Guards for work a caller can make long or large.

PostgreSQL only notices statement_timeout and pg_cancel_backend() at its own
interrupt checks, which Python code never reaches: a loop in PL/Python runs
on after the timeout. `Guard.check_interrupts()` reads the backend's
InterruptPending flag (a C global, read in nanoseconds through ctypes) and,
only when it is set, runs a trivial statement, whose executor processes the
interrupt and raises the cancel error into Python like any SPI error. Call
it in every loop whose length a caller controls.

Limits come from odl.limits (see sql/012_limits/limits.sql); `check_limit`
raises the same error as odl.check_limit() in SQL.
"""

from __future__ import annotations

import ctypes
from typing import Any

_pending = ctypes.c_int.in_dll(ctypes.CDLL(None), "InterruptPending")


class Guard:
    """One per backend, built with the wrappers' `plpy`."""

    def __init__(self, plpy: Any) -> None:
        self.plpy = plpy
        self._probe = plpy.prepare("select 1")
        self._check = plpy.prepare("select odl.check_limit($1, $2, $3)", ["text", "bigint", "text"])
        self._value = plpy.prepare("select odl.limit_value($1) as v", ["text"])

    def check_interrupts(self) -> None:
        if _pending.value:
            self.plpy.execute(self._probe)

    def limit(self, name: str) -> int:
        return self.plpy.execute(self._value, [name])[0]["v"]

    def check_limit(self, name: str, found: int, what: str) -> None:
        self.plpy.execute(self._check, [name, found, what])


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
