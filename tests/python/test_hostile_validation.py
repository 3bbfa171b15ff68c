"""Hostile schemas and instances given to pg_jsonschema's API
(json_matches_schema, jsonb_matches_schema, jsonschema_is_valid,
jsonschema_validation_errors), as issue 10 found them and as an attacker
would vary them.

On v0.1.0 `^(a+)+$` ran 36 s on 29 characters, doubling per character, and
neither statement_timeout nor pg_cancel_backend() stopped it; a 16 MB schema
cost 36-60 s; every role could call these functions. Now patterns run on a
linear engine or under a backtrack limit, sizes and nesting are checked
before any work, the validation runs in a child process of the backend that
a cancel kills (odl_db.sandbox), and only odl_app and odl_admin may call
them."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import psycopg
import pytest

from odl_db import sandbox

# 3,000 patterns applied to each of 50 strings of 20,000 characters: 75 KB
# of schema and 1 MB of instance, both within the limits; jsonschema-rs runs
# ~5 s and cannot be interrupted.
ALL_OF = json.dumps({"type": "array", "items": {"allOf": [{"pattern": "^(a|aa)+$"}] * 3000}})
LONG_STRINGS = json.dumps(["a" * 20_000] * 50)


def doubling_refs(levels: int) -> str:
    """A 2 KB schema whose $defs each refer to the next twice: the work
    doubles with every level (2^40 evaluations for 40 levels)."""
    defs = {f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]} for i in range(levels)}
    defs[f"d{levels}"] = {"type": "string"}
    return json.dumps({"$defs": defs, "$ref": "#/$defs/d0"})


RUNAWAYS = {
    "3000_patterns": ("select public.jsonschema_validation_errors(%s::json, %s::json)", (ALL_OF, LONG_STRINGS)),
    "doubling_refs": ("select public.json_matches_schema(%s::json, %s::json)", (doubling_refs(40), '"x"')),
}


@pytest.fixture
def app(connect):
    """An odl_app connection (the role applications log in with)."""
    conn = connect(user="odl_app", autocommit=True)
    return conn


def error_of(conn: psycopg.Connection, query: str, params=None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(query, params)
    return raised.value


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid` (the server runs on this machine)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def backend_pid(conn: psycopg.Connection) -> int:
    return conn.execute("select pg_backend_pid()").fetchone()[0]


def assert_no_child_left(conn: psycopg.Connection, pid: int) -> None:
    assert conn.execute("select public.json_matches_schema('{\"type\": \"integer\"}', '1')").fetchone()[0] is True
    # The killed child is reaped; the call above started exactly one new one.
    assert len(children_of(pid)) == 1, children_of(pid)


# --- patterns ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", [
    "^(a+)+$",
    "^(a|aa)+$",
    "^(a|a?)+$",
    "^(\\w+\\s?)*$",
    "^(a+)+(?=b)",  # lookahead: fancy-regex's backtracking VM, under its limit
    "^(?=a)(a|aa)+\\1$",  # a backreference
    "(?<=a)(a*)*b",  # lookbehind
])
def test_catastrophic_patterns_finish_at_once(app, pattern):
    for length in (25, 20_000):  # 25 characters took v0.1.0 seconds; 20,000 would take forever
        started = time.monotonic()
        matches, errors = app.execute(
            "select public.json_matches_schema(%(s)s::json, %(i)s::json),"
            " public.jsonschema_validation_errors(%(s)s::json, %(i)s::json)",
            {"s": json.dumps({"pattern": pattern}), "i": json.dumps("a" * length + "!")},
        ).fetchone()
        assert time.monotonic() - started < 1.0, (pattern, length)
        assert matches is False, (pattern, length)
        assert errors in (
            [f"(root): must match pattern {pattern}"],
            ["(root): pattern is too costly to match (backtrack limit reached)"],
        ), errors


def test_a_catastrophic_pattern_in_property_names_finishes_at_once(app):
    schema = {"patternProperties": {"^(a|a?)+\\1$": False}, "propertyNames": {"pattern": "^(a+)+$"}}
    instance = {"a" * 5_000 + "!": 1, "a" * 25 + "!": 2}
    started = time.monotonic()
    matches = app.execute("select public.json_matches_schema(%s::json, %s::json)",
                          (json.dumps(schema), json.dumps(instance))).fetchone()[0]
    assert matches is False and time.monotonic() - started < 1.0


# --- runaway validation is cancelled -------------------------------------------------------------


@pytest.mark.parametrize("case", RUNAWAYS)
def test_statement_timeout_cancels_a_runaway_validation_within_a_second(app, case):
    query, params = RUNAWAYS[case]
    pid = backend_pid(app)
    app.execute("set statement_timeout = '500ms'")
    started = time.monotonic()
    error = error_of(app, query, params)
    elapsed = time.monotonic() - started
    assert error.sqlstate == "57014", error
    assert error.diag.message_primary == "canceling statement due to statement timeout"
    assert elapsed < 1.5, elapsed
    app.execute("reset statement_timeout")
    assert_no_child_left(app, pid)


@pytest.mark.parametrize("case", RUNAWAYS)
def test_pg_cancel_backend_cancels_a_runaway_validation(app, connect, case):
    query, params = RUNAWAYS[case]
    pid = backend_pid(app)
    outcome = {}

    def run():
        try:
            app.execute(query, params)
        except psycopg.Error as error:
            outcome["error"] = error
        outcome["ended"] = time.monotonic()

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.7)  # inside the validation
    running = children_of(pid)
    admin = connect(autocommit=True)
    assert admin.execute("select pg_cancel_backend(%s)", (pid,)).fetchone()[0]
    cancelled = time.monotonic()
    worker.join(30)
    assert not worker.is_alive()
    assert outcome["error"].sqlstate == "57014"
    assert outcome["error"].diag.message_primary == "canceling statement due to user request"
    assert outcome["ended"] - cancelled < 1.0
    # The child that validated is gone: no CPU keeps burning.
    assert running and not any(Path(f"/proc/{child}").exists() for child in running), running
    assert_no_child_left(app, pid)


def test_a_child_that_dies_is_an_error_and_the_next_call_works(app, connect):
    pid = backend_pid(app)
    outcome = {}

    def run():
        try:
            app.execute(*RUNAWAYS["3000_patterns"])
        except psycopg.Error as error:
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.7)
    (child,) = children_of(pid)
    os.kill(child, 9)  # as the kernel's OOM killer would
    worker.join(10)
    assert outcome["error"].sqlstate == "53200", outcome["error"]
    assert "SIGKILL" in outcome["error"].diag.message_detail
    assert_no_child_left(app, pid)


def test_the_validating_process_leaves_with_its_backend(connect):
    conn = connect(user="odl_app", autocommit=True)
    pid = backend_pid(conn)
    conn.execute("select public.jsonschema_is_valid('{}')")
    (child,) = children_of(pid)
    admin = connect(autocommit=True)
    assert admin.execute("select pg_terminate_backend(%s, 5000)", (pid,)).fetchone()[0]
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and "zombie" not in _state(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists() or "zombie" in _state(child)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return "gone"


def test_the_validating_process_holds_nothing_of_postgresql(app):
    pid = backend_pid(app)
    app.execute("select public.jsonschema_is_valid('{}')")
    (child,) = children_of(pid)
    status = Path(f"/proc/{child}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert int(fields["SigCgt"], 16) == 0, "PostgreSQL's signal handlers were reset"
    assert int(fields["SigBlk"], 16) == 0
    # Its pipes and the standard descriptors only: not the client's socket.
    descriptors = [os.readlink(f"/proc/{child}/fd/{fd}") for fd in os.listdir(f"/proc/{child}/fd")]
    assert not [d for d in descriptors if d.startswith("socket:")], descriptors
    assert len([d for d in descriptors if d.startswith("pipe:")]) == 2, descriptors
    # Not attached to the System V segment a restarting postmaster checks.
    assert "SYSV" not in Path(f"/proc/{child}/maps").read_text()


# --- limits before work --------------------------------------------------------------------------


def test_a_schema_over_schema_bytes_is_refused_at_once(app):
    schema = json.dumps({"description": "x" * 16_000_000, "type": "object"})  # v0.1.0: 36-60 s
    for query in ("select public.json_matches_schema(%s::json, '{}')",
                  "select public.jsonb_matches_schema(%s::json, '{}')",
                  "select public.jsonschema_is_valid(%s::json)",
                  "select public.jsonschema_validation_errors(%s::json, '{}')"):
        started = time.monotonic()
        error = error_of(app, query, (schema,))
        assert time.monotonic() - started < 1.0
        assert error.sqlstate == "ODL05", error
        assert "over the limit schema_bytes = 1048576" in error.diag.message_primary


def test_an_instance_over_document_bytes_is_refused(connect):
    admin = connect()
    admin.execute("update odl.limits set value = 1000 where name = 'document_bytes'")  # rolled back
    error = error_of(admin, "select public.json_matches_schema('{}', %s::json)", (json.dumps("x" * 1000),))
    assert error.sqlstate == "ODL01", error
    assert "the instance is 1002 bytes, over the limit document_bytes = 1000" == error.diag.message_primary


DEEP_ARRAY = "[" * 14_000 + "]" * 14_000
DEEP_OBJECT = '{"a":' * 14_000 + "{}" + "}" * 14_000
DEEP_OBJECT_1000 = '{"a":' * 999 + "{}" + "}" * 999


@pytest.mark.parametrize("deep", [DEEP_ARRAY, DEEP_OBJECT], ids=["arrays", "objects"])
def test_deep_schemas_and_instances_are_refused_and_the_cluster_stays_up(app, connect, deep):
    bystander = connect(user="odl_app")
    bystander.execute("begin")
    bystander.execute("select 1")
    cases = [
        ("select public.json_matches_schema('{}', %s::json)", "the instance is 14000 levels"),
        ("select public.jsonb_matches_schema('{}', %s::jsonb)", "the instance is 14000 levels"),
        ("select public.jsonschema_validation_errors('{\"items\": {\"$ref\": \"#\"}}', %s::json)",
         "the instance is 14000 levels"),
        ("select public.json_matches_schema(%s::json, '1')", "the schema is 14000 levels"),
        ("select public.jsonschema_is_valid(%s::json)", "the schema is 14000 levels"),
    ]
    for query, message in cases:
        error = error_of(app, query, (deep,))
        if error.sqlstate == "54001" and deep is DEEP_OBJECT:
            # PostgreSQL's own json input refuses objects this deep before any function runs.
            assert error.diag.message_primary == "stack depth limit exceeded"
            error = error_of(app, query, (DEEP_OBJECT_1000,))
            message = message.replace("14000", "1000")
        assert error.sqlstate == "ODL02", (query, error)
        assert error.diag.message_primary == f"{message}, over the limit nesting_depth = 128"
    assert bystander.execute("select 2").fetchone()[0] == 2  # the same transaction: no crash, no restart
    bystander.rollback()


def test_nesting_is_counted_exactly_just_past_the_limit(app):
    error = error_of(app, "select public.json_matches_schema('{}', %s::json)", ("[" * 129 + "]" * 129,))
    assert error.sqlstate == "ODL02"
    assert error.diag.message_primary == "the instance is 129 levels, over the limit nesting_depth = 128"
    assert app.execute("select public.json_matches_schema('{}', %s::json)", ("[" * 128 + "]" * 128,)).fetchone()[0]


# --- who may call ------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    "json_matches_schema('{}', '1')", "jsonb_matches_schema('{}', '1')",
    "jsonschema_is_valid('{}')", "jsonschema_validation_errors('{}', '1')",
])
def test_only_odl_app_and_odl_admin_may_validate_with_schemas_of_their_own(connect, call):
    for role, allowed in (("odl_app", True), ("odl_admin", True), ("odl_analyst", False), ("odl_owner", True)):
        conn = connect(autocommit=True)
        conn.execute(f"set role {role}")
        if allowed:
            conn.execute(f"select public.{call}")
        else:
            assert error_of(conn, f"select public.{call}").sqlstate == "42501", role
    conn = connect(autocommit=True)
    assert conn.execute(
        "select count(*) from pg_proc as p, aclexplode(p.proacl) as a"
        " where p.proname = %s and p.pronamespace = 'public'::regnamespace and a.grantee = 0",
        (call.split("(")[0],),
    ).fetchone()[0] == 0, "PUBLIC may not execute it"


# --- the child's cache is bounded ----------------------------------------------------------------


def test_the_validator_cache_is_bounded_by_count_and_schema_text():
    validators = sandbox.Validators(entries=4, size=10_000)
    compiled = []
    for i in range(10):
        validators.get(json.dumps({"minimum": i}).encode(), lambda: compiled.append(1) or object())
    assert len(validators.held) == 4 and len(compiled) == 10
    validators.get(json.dumps({"minimum": 9}).encode(), lambda: compiled.append(1) or object())
    assert len(compiled) == 10, "the most recent schema is served from the cache"
    big = json.dumps({"description": "x" * 4_000}).encode()
    for i in range(3):
        validators.get(big + b" " * i, object)
    assert validators.bytes <= 10_000 and len(validators.held) <= 3
    validators.get(b" " * 20_000, object)  # larger than the whole cache: compiled, not kept
    assert validators.bytes <= 10_000


def test_a_session_that_validates_many_large_schemas_keeps_little(app):
    pid = backend_pid(app)
    for i in range(8):
        schema = {"type": "object", "properties": {f"p{j}": {"type": "string", "pattern": f"^x{i}-{j}[a-z]+$"}
                                                   for j in range(15_000)}}
        text = json.dumps(schema)
        assert len(text) < 1_048_576
        assert app.execute("select public.json_matches_schema(%s::json, '{\"p1\": 1}')", (text,)).fetchone()[0] is False
    (child,) = children_of(pid)
    status = Path(f"/proc/{child}/status").read_text()
    rss = int(status.split("VmRSS:", 1)[1].split()[0]) * 1024
    assert rss < 600 << 20, rss
    backend = int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:", 1)[1].split()[0]) * 1024
    assert backend < 300 << 20, backend


def test_requests_are_answered_without_a_database():
    """The child's side, as pytest imports it: a pure function of a request."""
    validators = sandbox.Validators()
    assert sandbox.work(("errors", b'{"type": "integer"}', b'"x"', 128), validators) == (
        "ok", ["(root): must be an integer"])
    assert sandbox.work(("errors", b"{}", b"[" * 2000 + b"]" * 2000, 128), validators) == (
        "too_deep", "the instance", 2000)
    assert sandbox.work(("problems", b'{"type": "intger"}', 128), validators)[0] == "ok"
    assert sandbox.work(("errors", b'{"$ref": "https://example.com/s"}', b"1", 128), validators)[0] == "invalid_schema"
    assert sandbox.text_depth(b'[["[[[\\"[", {"a": [1]}]]') == 4


def test_a_sandbox_outside_the_database_is_cancelled_by_its_interrupt_check():
    class Cancelled(Exception):
        pass

    deadline = [time.monotonic() + 0.3]

    def check_interrupts():
        if time.monotonic() > deadline[0]:
            raise Cancelled

    box = sandbox.Sandbox(check_interrupts)
    assert box.call(("errors", b'{"type": "integer"}', b"1", 128)) == ("ok", [])
    child = box.pid
    started = time.monotonic()
    with pytest.raises(Cancelled):
        box.call(("errors", ALL_OF.encode(), LONG_STRINGS.encode(), 128))
    assert time.monotonic() - started < 0.5
    assert box.pid is None and not Path(f"/proc/{child}").exists()
    # No cancel pending any more: the next call starts a new child.
    deadline[0] = float("inf")
    assert box.call(("errors", b'{"type": "integer"}', b'"x"', 128)) == ("ok", ["(root): must be an integer"])
    box.stop()
