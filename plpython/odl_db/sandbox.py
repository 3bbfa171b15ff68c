"""Validation of caller-supplied JSON Schemas, in a child process.

A caller's schema can make jsonschema-rs run for as long as the caller
likes (3,000 patterns applied to each of 50 long strings; $defs that refer
to each other twice per level, so that the work doubles with each level),
and the Rust engine holds the GIL and never returns to PostgreSQL until it
is done: statement_timeout and pg_cancel_backend() would wait for it.
Nothing can interrupt Rust code, but a process can be killed. So the
backend validates untrusted schemas in a child it forks, and waits for the
answer on a pipe in short slices, checking for interrupts between them; on
a cancel (or any error) it kills and reaps the child before the error goes
on, and the next call forks a new one.

The child runs only Python and Rust code (jsonschema-rs, orjson), never a
PostgreSQL function: it resets PostgreSQL's signal handlers, detaches the
System V shared memory segment, closes every inherited descriptor but its
pipes, dies with its parent (PR_SET_PDEATHSIG), bounds its address space,
and leaves with os._exit, so that PostgreSQL's exit handlers never run in
it. It lives on for the backend's later calls and keeps their compiled
validators, a few, bounded by count and by schema text; it retires once its
peak memory has grown by more than RETIRE_GROWTH.

The documents' own schemas (trusted, registered by the DBA) are validated
in the backend by odl_db.validation, as before: this costs a pipe round trip
per call (tens of microseconds), which the write path need not pay.

`work` is the child's side, a pure function of a request, which pytest
calls directly; `Sandbox` is the plumbing.
"""

from __future__ import annotations

import ctypes
import hashlib
import marshal
import os
import resource
import re
import select
import signal
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jsonschema_rs

from odl_db import validation

__all__ = ["Sandbox", "SandboxFailed", "Validators", "spi_sqlstate", "text_depth", "work"]

# Patterns: plain ones go to the `regex` crate (linear time); the ones that
# need lookaround or backreferences (ECMA-262 has both, the regex crate
# neither) to fancy-regex's backtracking VM, which gives up after this many
# backtracking steps at one position and reports the value as failing the
# pattern ("too costly"). The limit bounds each attempt, not the search: an
# unanchored pattern is tried at every position, so 20,000 characters cost
# ~30 ms at 1,000 steps and ~0.4 s at 10,000. pg_jsonschema keeps
# fancy-regex's default, 1,000,000.
BACKTRACK_LIMIT = 1_000
PATTERNS = jsonschema_rs.FancyRegexOptions(backtrack_limit=BACKTRACK_LIMIT)

CACHE_ENTRIES = 32  # compiled validators kept by the child
CACHE_BYTES = 2 << 20  # and the schema text they were compiled from (~50x that in memory)
RETIRE_GROWTH = 512 << 20  # the child exits once its peak memory grew by this
ADDRESS_SPACE = 4 << 30  # more address space than at the fork: past it, allocations fail
SLICE_MS = 10  # how long the parent waits before it checks for interrupts again

_FRAME = struct.Struct("<Q")


# --- the child's work (pure) ----------------------------------------------------------


class Validators:
    """Compiled validators of caller schemas, by the SHA-256 of the schema
    text, the least recently used dropped first; bounded by CACHE_ENTRIES
    and by the total size of their schema texts, CACHE_BYTES."""

    def __init__(self, entries: int = CACHE_ENTRIES, size: int = CACHE_BYTES) -> None:
        self.entries, self.size = entries, size
        self.held: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()
        self.bytes = 0

    def get(self, schema_text: bytes, compile_: Callable[[], Any]) -> Any:
        key = hashlib.sha256(schema_text).digest()
        found = self.held.get(key)
        if found is not None:
            self.held.move_to_end(key)
            return found[0]
        validator = compile_()
        if len(schema_text) <= self.size:
            self.held[key] = (validator, len(schema_text))
            self.bytes += len(schema_text)
            while len(self.held) > self.entries or self.bytes > self.size:
                self.bytes -= self.held.popitem(last=False)[1][1]
        return validator

    def clear(self) -> None:
        self.held.clear()
        self.bytes = 0


class _TooDeep(Exception):
    def __init__(self, what: str, depth: int) -> None:
        super().__init__(what, depth)
        self.what, self.depth = what, depth


_STRINGS = re.compile(rb'"(?:[^"\\]+|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def text_depth(text: bytes) -> int:
    """The nesting depth of JSON text, counted on its brackets outside
    strings: for text the parser refused as too deep."""
    depth = deepest = 0
    for byte in _STRINGS.sub(b"", text).translate(None, _NOT_BRACKETS):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _parse(text: bytes, what: str, max_depth: int) -> Any:
    try:
        value = validation.parse_json(text)
    except validation.TooDeepError:
        raise _TooDeep(what, text_depth(text)) from None
    # Brackets bound the depth: most values need no walk.
    if text.count(b"[") + text.count(b"{") > max_depth:
        from odl_db.guards import nesting_depth  # noqa: PLC0415 - needed for large values only

        if nesting_depth(value, max_depth) > max_depth:
            raise _TooDeep(what, nesting_depth(value, validation.MAX_DEPTH))
    return value


def _compile(schema: Any) -> Any:
    if not isinstance(schema, (dict, bool)):
        raise validation.InvalidSchemaError("invalid schema: (root): must be an object or a boolean")
    problems = validation.check_schema(schema)
    if problems:
        raise validation.InvalidSchemaError("invalid schema: " + "; ".join(problems[:5]))
    try:
        return jsonschema_rs.validator_for(schema, retriever=_refuse, pattern_options=PATTERNS)
    except jsonschema_rs.ValidationError as error:
        raise validation.InvalidSchemaError(f"cannot resolve a schema reference: {error.message}") from None
    except (ValueError, TypeError) as error:
        raise validation.InvalidSchemaError(f"invalid schema: {error}") from None


def _refuse(uri: str) -> Any:
    raise LookupError(f"remote reference {uri} is not fetched")


def work(request: tuple, validators: Validators) -> tuple:
    """The answer to one request, as the child gives it:

    - ("errors", schema_text, instance_text, max_depth): ("ok", [message, ...])
      as "pointer: message", format an annotation (pg_jsonschema's API);
    - ("problems", schema_text, max_depth): ("ok", [problem, ...]), why the
      schema breaks the draft 2020-12 meta-schema;

    or ("too_deep", what, depth), ("invalid_schema", message) or
    ("invalid", message)."""
    try:
        op, schema_text, *rest = request
        if op == "problems":
            return "ok", validation.check_schema(_parse(schema_text, "the schema", rest[0]))
        instance_text, max_depth = rest
        validator = validators.get(schema_text, lambda: _compile(_parse(schema_text, "the schema", max_depth)))
        instance = _parse(instance_text, "the instance", max_depth)
        return "ok", [f"{pointer or '(root)'}: {message}" for pointer, message in validation._report(validator, instance)]
    except _TooDeep as deep:
        return "too_deep", deep.what, deep.depth
    except validation.InvalidSchemaError as error:
        return "invalid_schema", str(error)
    except (ValueError, RecursionError) as error:
        return "invalid", str(error)


def spi_sqlstate(error: Exception) -> str:
    """The SQLSTATE of a PL/Python SPI error: its class's, or else the one
    packed into spidata (PostgreSQL's MAKE_SQLSTATE, six bits a character)."""
    known = getattr(error, "sqlstate", None)
    if isinstance(known, str):
        return known
    spidata = getattr(error, "spidata", None)
    code = spidata[0] if isinstance(spidata, tuple) and spidata and isinstance(spidata[0], int) else 0
    return "".join(chr(((code >> (6 * i)) & 0x3F) + ord("0")) for i in range(5)) if code else "XX000"


# --- the process ------------------------------------------------------------------------


class SandboxFailed(Exception):
    """The child died (out of memory, or killed) or broke the protocol."""


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


class Sandbox:
    """A child process that runs `work`, started on first use.

    `check_interrupts` is called between slices of waiting; whatever it
    raises (the backend's cancel) ends the child before it goes on."""

    def __init__(self, check_interrupts: Callable[[], None], handler: Callable[[tuple, Validators], tuple] = work):
        self.check_interrupts = check_interrupts
        self.handler = handler
        self.pid: int | None = None
        self._to = self._from = -1

    def call(self, request: tuple) -> tuple:
        if self.pid is None:
            self._start()
        try:
            payload = marshal.dumps(request)
            self._send(_FRAME.pack(len(payload)) + payload)
            retire, reply = marshal.loads(self._receive())
        except BaseException:
            self.stop()
            raise
        if retire:
            self.stop()
        return reply

    def stop(self) -> None:
        """Kills and reaps the child; the next call starts another."""
        pid, self.pid = self.pid, None
        for fd in (self._to, self._from):
            if fd >= 0:
                os.close(fd)
        self._to = self._from = -1
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while True:
                try:
                    os.waitpid(pid, 0)
                    break
                except InterruptedError:
                    continue
                except ChildProcessError:
                    break

    # The parent's side of the pipes: non-blocking, waited on in slices.

    def _wait(self, poller: Any) -> None:
        while not poller.poll(SLICE_MS):
            self.check_interrupts()

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._to, view):]
            except BlockingIOError:
                self._wait(self._writable)
            except BrokenPipeError:
                raise SandboxFailed(self._death()) from None

    def _receive(self) -> bytes:
        """One frame's payload; waits first, since the answer is never
        there at once."""
        parts: list[bytes] = []
        have, size = 0, None
        while size is None or have < size + _FRAME.size:
            self._wait(self._readable)
            try:
                chunk = os.read(self._from, max(1 << 16, (size or 0) + _FRAME.size - have))
            except BlockingIOError:
                continue
            if not chunk:
                raise SandboxFailed(self._death())
            parts.append(chunk)
            have += len(chunk)
            if size is None and have >= _FRAME.size:
                parts = [b"".join(parts)]
                size = _FRAME.unpack_from(parts[0])[0]
        return b"".join(parts)[_FRAME.size:]

    def _death(self) -> str:
        pid, self.pid = self.pid, None
        status = 0
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            return f"the validating process was ended by signal {signal.Signals(os.WTERMSIG(status)).name}"
        return f"the validating process exited with status {os.waitstatus_to_exitcode(status)}"

    def _start(self) -> None:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            status = 70
            try:
                os.close(down_w)
                os.close(up_r)
                _child_setup(parent, down_r, up_w)
                _child_loop(down_r, up_w, self.handler)
                status = 0
            except BaseException:  # noqa: BLE001 - nothing may escape into PostgreSQL's code
                pass
            finally:
                os._exit(status)
        os.close(down_r)
        os.close(up_w)
        os.set_blocking(down_w, False)
        os.set_blocking(up_r, False)
        self.pid, self._to, self._from = pid, down_w, up_r
        self._readable, self._writable = select.poll(), select.poll()
        self._readable.register(up_r, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._writable.register(down_w, select.POLLOUT | select.POLLHUP | select.POLLERR)


def _child_setup(parent: int, down: int, up: int) -> None:
    if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
        os._exit(71)
    # PostgreSQL's handlers would act on a backend that is not this process.
    for number in signal.valid_signals():
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(number, signal.SIG_DFL)
            except (OSError, ValueError, RuntimeError):
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    # Attached to the System V segment, this process would count as a live
    # backend to a postmaster that restarts.
    try:
        segment = ctypes.c_void_p.in_dll(_libc, "UsedShmemSegAddr")
        if segment.value:
            _libc.shmdt(segment)
    except ValueError:
        pass
    # The client's socket and the postmaster's pipes are not ours.
    low, high = sorted((down, up))
    os.closerange(3, low)
    os.closerange(low + 1, high)
    os.closerange(high + 1, os.sysconf("SC_OPEN_MAX"))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    mapped = _status("VmSize")
    resource.setrlimit(resource.RLIMIT_AS, (mapped + ADDRESS_SPACE, mapped + ADDRESS_SPACE))


def _status(field: str) -> int:
    """A size in bytes from /proc/self/status."""
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(field.encode() + b":"):
                return int(line.split()[1]) * 1024
    return 0


def _peak_memory() -> int:
    """The most memory this process has held, in bytes: a system call, where
    reading /proc/self/status would cost more than a small validation."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child_loop(down: int, up: int, handler: Callable[[tuple, Validators], tuple]) -> None:
    validators = Validators()
    start = _peak_memory()
    while True:
        payload = _read_frame(down)
        if payload is None:
            return  # the parent closed the pipe
        try:
            reply = handler(marshal.loads(payload), validators)
        except MemoryError:
            validators.clear()
            reply = ("failed", "out of memory")
        del payload
        retire = _peak_memory() - start > RETIRE_GROWTH
        answer = marshal.dumps((retire, reply))
        _write_all(up, _FRAME.pack(len(answer)) + answer)
        if retire:
            return


def _read_frame(fd: int) -> bytes | None:
    """The payload of the next frame, None at the end of the pipe."""
    data = os.read(fd, 1 << 16)
    while 0 < len(data) < _FRAME.size:
        data += os.read(fd, _FRAME.size - len(data))
    if len(data) < _FRAME.size:
        return None
    size = _FRAME.unpack_from(data)[0]
    parts, have = [data[_FRAME.size:]], len(data) - _FRAME.size
    while have < size:
        chunk = os.read(fd, size - have)
        if not chunk:
            return None
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
