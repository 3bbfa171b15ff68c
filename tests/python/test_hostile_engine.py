"""The document engine against a hostile caller (issue 10): nothing a caller
sends crashes the server, runs unbounded or shows Python's internals.

Each case failed on v0.1.0: a 14,000-deep array reached the jsonb_plpython3u
transform, which recursed in C until the backend crashed and took every
session with it; there were no limits; Python loops ignored
statement_timeout; 1e400 was hashed as Infinity; the validation cache was
keyed by the lossy content hash; Python exceptions surfaced as SQLSTATE
38000 with tracebacks."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time

import psycopg
import pytest
import rfc8785
from psycopg.types.json import Jsonb

from conftest import TOP, server_conninfo

sys.path.insert(0, str(TOP))
from fixtures import odlsd, odlsd_floats, odlsd_spec  # noqa: E402

SMALL = odlsd.generate(10_000, seed=7)
DEEP = 14_000
INTERNALS = re.compile(r"Traceback|plpy\.|spiexceptions|\b[A-Z][A-Za-z]*(Error|Exception)\b")


def app_session(dbname, tenant) -> psycopg.Connection:
    conn = psycopg.connect(server_conninfo(dbname=dbname, user="odl_app"))
    conn.execute("select odl.odl_set_context(%s, %s)", tenant)
    return conn


@pytest.fixture
def project(dbname, tenant, access):
    """A committed project whose user holds super_user: (project_id, tenant)."""
    access.assign("super_user")
    with app_session(dbname, tenant) as conn:
        project_id = conn.execute("select odl.odl_create_project('hostile')").fetchone()[0]
    access.attach(project_id)
    return project_id, tenant


@pytest.fixture
def document(dbname, project):
    """A committed document of SMALL: (doc_id, tenant)."""
    project_id, tenant = project
    with app_session(dbname, tenant) as conn:
        doc_id = conn.execute("select odl.odl_create_document(%s, %s)", (project_id, Jsonb(SMALL))).fetchone()[0]
    return doc_id, tenant


@pytest.fixture(scope="module")
def deep_values(dbname):
    """public.hostile_deep (kind, v): 14,000-deep array and object, and
    200-deep ones, readable by odl_app. jsonb_in needs a larger stack to
    parse the deep object; an attacker builds it with jsonb_build_object in
    a loop instead, which is only slower."""
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as admin:
        admin.execute("set max_stack_depth = '7MB'")
        admin.execute("create table public.hostile_deep (kind text primary key, v jsonb not null)")
        for depth in (DEEP, 200):
            admin.execute(
                "insert into public.hostile_deep values (%s, %s::jsonb), (%s, %s::jsonb)",
                (f"array{depth}", "[" * depth + "]" * depth, f"object{depth}", '{"a":' * depth + "1" + "}" * depth),
            )
        admin.execute("grant select on public.hostile_deep to odl_app")
    yield
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as admin:
        admin.execute("drop table public.hostile_deep")


def error_of(conn, query, params=()) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(query, params)
    conn.rollback()
    return caught.value


def assert_clean(error: psycopg.Error) -> None:
    """A documented SQLSTATE and one line without Python's internals."""
    assert error.sqlstate not in ("38000", "XX000"), error
    message = error.diag.message_primary or ""
    assert "\n" not in message and not INTERNALS.search(message), message
    assert not INTERNALS.search(error.diag.context or ""), error.diag.context


def deep(kind: str) -> str:
    return f"(select v from public.hostile_deep where kind = '{kind}')"


# --- deep nesting: every entry point, the cluster stays up ---------------------


def entry_points(doc_id: str | None, project_id: str | None, value: str) -> list[str]:
    """Every call that takes a JSON value from the caller, with `value` (an SQL
    expression) in each place a value goes."""
    op = f"jsonb_build_array(jsonb_build_object('op', 'add', 'path', '/meta/x', 'value', {value}))"
    calls = [
        f"select odl.odl_content_hash({value})",
        f"select odl.odl_canonical_json({value})",
        f"select odl.odl_jsonpatch_apply({value}, '[]')",
        f"select odl.odl_jsonpatch_inverse({value}, '[]')",
        f"select odl.odl_jsonpatch_apply('{{}}', {op})",
        f"select odl.odl_jsonpatch_apply('{{}}', {value})",
        f"select * from odl.odl_validate_document({value})",
        f"select * from odl.odl_validate_document(jsonb_build_object('schema_version', '4.1', 'meta', {value}))",
    ]
    if doc_id is not None:
        calls += [
            f"select * from odl.odl_apply_patch('{doc_id}', {op}, 1, dry_run => true)",
            f"select * from odl.odl_apply_patch('{doc_id}', {op}, 1)",
            f"select * from odl.odl_apply_patch('{doc_id}', {op}, 1, propose => true)",
            f"select * from odl.odl_apply_patch('{doc_id}', {value}, 1)",
        ]
    if project_id is not None:
        calls += [
            f"select odl.odl_create_document('{project_id}', {value})",
            f"select odl.odl_create_document('{project_id}',"
            f" jsonb_set(%s::jsonb, '{{meta,x}}', {value}))",
        ]
    return calls


@pytest.mark.parametrize("kind", [f"array{DEEP}", f"object{DEEP}", "array200", "object200"])
def test_deep_values_are_refused_at_every_entry_point_and_every_session_survives(
    dbname, deep_values, document, project, connect, kind
):
    doc_id, tenant = document
    bystander = connect()
    started = bystander.execute("select pg_postmaster_start_time()").fetchone()[0]
    bystander.commit()
    with app_session(dbname, tenant) as conn:
        for call in entry_points(doc_id, project[0], deep(kind)):
            conn.execute("select odl.odl_set_context(%s, %s)", tenant)
            params = (json.dumps(SMALL),) if "%s" in call else ()
            error = error_of(conn, call, params)
            assert error.sqlstate == "ODL02", (call, error)
            assert "nesting_depth = 128" in error.diag.message_primary, (call, error.diag.message_primary)
            assert_clean(error)
    assert bystander.execute("select 1").fetchone()[0] == 1
    assert bystander.execute("select pg_postmaster_start_time()").fetchone()[0] == started


def nested_array(depth: int, leaf=1):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def set_limit(conn, name: str, value: int) -> None:
    conn.execute("update odl.limits set value = %s where name = %s", (value, name))


def as_app(conn, tenant) -> None:
    """Acts as odl_app in the tenant for the rest of conn's transaction
    (whose limits a superuser may have changed first)."""
    conn.execute("set local role odl_app")
    conn.execute("select odl.odl_set_context(%s, %s)", tenant)


@pytest.mark.parametrize("limit", [128, 512])
def test_a_document_at_the_depth_limit_is_created_patched_and_reverted_to(conn, project, limit):
    project_id, tenant = project
    set_limit(conn, "nesting_depth", limit)
    as_app(conn, tenant)
    doc = json.loads(json.dumps(SMALL))
    # meta is depth 1 of the document: the value adds limit - 2 levels.
    doc["meta"]["deep"] = nested_array(limit - 2)
    doc_id = conn.execute("select odl.odl_create_document(%s, %s)", (project_id, Jsonb(doc))).fetchone()[0]
    inner = "/meta/deep" + "/0" * (limit - 3)
    conn.execute(
        "select * from odl.odl_apply_patch(%s, %s, 1)",
        (doc_id, Jsonb([{"op": "replace", "path": inner + "/0", "value": 2}])),
    )
    conn.execute(
        "select * from odl.odl_apply_patch(%s, %s, 2)",
        (doc_id, Jsonb([{"op": "replace", "path": "/meta/deep", "value": "flat"}])),
    )
    conn.execute("savepoint deeper")
    error = error_of_savepoint(
        conn,
        "select * from odl.odl_apply_patch(%s, %s, 3)",
        (doc_id, Jsonb([{"op": "add", "path": "/meta/deeper", "value": nested_array(limit - 1)}])),
    )
    assert error.sqlstate == "ODL02" and f"nesting_depth = {limit}" in error.diag.message_primary
    reverted = conn.execute("select doc_hash from odl.odl_revert_document(%s, 1, 3)", (doc_id,)).fetchone()[0]
    first = conn.execute("select document from odl.odl_get_document(%s, 1)", (doc_id,)).fetchone()[0]
    assert first == doc
    assert conn.execute("select document from odl.odl_get_document(%s)", (doc_id,)).fetchone()[0] == doc
    assert reverted == "sha256:" + hashlib.sha256(rfc8785.dumps(doc)).hexdigest()
    assert conn.execute("select document from odl.odl_get_document(%s, 2)", (doc_id,)).fetchone()[0]["meta"][
        "deep"
    ] == nested_array(limit - 2, 2)


def error_of_savepoint(conn, query, params=()) -> psycopg.Error:
    """The error of a statement run after `savepoint deeper`, rolled back to it."""
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(query, params)
    conn.execute("rollback to savepoint deeper")
    return caught.value


def test_a_patch_that_nests_the_document_too_deeply_is_refused_where_it_places_the_value(conn, project):
    project_id, tenant = project
    as_app(conn, tenant)
    doc = json.loads(json.dumps(SMALL))
    doc["meta"]["deep"] = nested_array(100)
    doc_id = conn.execute("select odl.odl_create_document(%s, %s)", (project_id, Jsonb(doc))).fetchone()[0]
    # Each value is shallow; placed at depth 101 it nests 130 levels.
    path = "/meta/deep" + "/0" * 99 + "/-"
    for call in ("select * from odl.odl_apply_patch(%s, %s, 1, dry_run => true)",
                 "select odl.odl_jsonpatch_apply((select document from odl.odl_get_document(%s)), %s)"):
        conn.execute("savepoint deeper")
        error = error_of_savepoint(conn, call, (doc_id, Jsonb([{"op": "add", "path": path, "value": nested_array(28)}])))
        assert error.sqlstate == "ODL02", error
        assert "nesting_depth = 128" in error.diag.message_primary and '"' + path + '"' in error.diag.message_primary
    # copy and move place what they take from the document.
    conn.execute("savepoint deeper")
    error = error_of_savepoint(
        conn, "select * from odl.odl_apply_patch(%s, %s, 1, dry_run => true)",
        (doc_id, Jsonb([{"op": "copy", "from": "/meta/deep", "path": "/meta/deep" + "/0" * 50}])),
    )
    assert error.sqlstate == "ODL02", error


# --- sizes and operations ------------------------------------------------------------


def test_oversize_documents_are_refused_with_the_limit_named(conn, project):
    project_id, tenant = project
    set_limit(conn, "document_bytes", 5_000)
    as_app(conn, tenant)
    for call, params in (
        ("select odl.odl_create_document(%s, %s)", (project_id, Jsonb(SMALL))),
        ("select * from odl.odl_validate_document(%s)", (Jsonb(SMALL),)),
        ("select odl.odl_canonical_json(%s)", (Jsonb(SMALL),)),
        ("select odl.odl_content_hash(%s)", (Jsonb(SMALL),)),
        ("select odl.odl_jsonpatch_apply(%s, '[]')", (Jsonb(SMALL),)),
    ):
        conn.execute("savepoint deeper")
        error = error_of_savepoint(conn, call, params)
        assert error.sqlstate == "ODL01", (call, error)
        assert "document_bytes = 5000" in error.diag.message_primary, error.diag.message_primary
        assert_clean(error)


def test_a_document_beyond_the_default_limit_is_refused_before_python_sees_it(conn, project):
    project_id, tenant = project
    as_app(conn, tenant)
    big = "jsonb_build_object('schema_version', '4.1', 'meta', jsonb_build_object('x', repeat('x', 17000000)))"
    started = time.monotonic()
    for call in (f"select odl.odl_create_document('{project_id}', {big})", f"select odl.odl_content_hash({big})"):
        conn.execute("savepoint deeper")
        error = error_of_savepoint(conn, call)
        assert error.sqlstate == "ODL01" and "document_bytes = 16777216" in error.diag.message_primary, error
    assert time.monotonic() - started < 5


def test_a_patch_that_grows_the_document_past_the_limit_is_refused(conn, document):
    doc_id, tenant = document
    size = len(json.dumps(SMALL))
    set_limit(conn, "document_bytes", size + 2_000)
    as_app(conn, tenant)
    grow = [{"op": "add", "path": "/meta/notes", "value": "x" * 3_000}]
    for call in ("select * from odl.odl_apply_patch(%s, %s, 1)", "select * from odl.odl_apply_patch(%s, %s, 1, dry_run => true)",
                 "select odl.odl_jsonpatch_apply((select document from odl.odl_get_document(%s)), %s)"):
        conn.execute("savepoint deeper")
        error = error_of_savepoint(conn, call, (doc_id, Jsonb(grow)))
        assert error.sqlstate == "ODL01", (call, error)
        assert "the patched document" in error.diag.message_primary and "document_bytes" in error.diag.message_primary
    # A patch that keeps it within the limit applies.
    conn.execute("select * from odl.odl_apply_patch(%s, %s, 1)", (doc_id, Jsonb([{"op": "add", "path": "/meta/notes", "value": "x"}])))


def test_oversize_patches_and_too_many_operations_are_refused(conn, document):
    doc_id, tenant = document
    set_limit(conn, "patch_bytes", 300)
    set_limit(conn, "engine_operations", 5)
    as_app(conn, tenant)
    long_patch = [{"op": "add", "path": "/meta/notes", "value": "x" * 400}]
    for call in ("select * from odl.odl_apply_patch(%s, %s, 1)", "select * from odl.odl_apply_patch(%s, %s, 1, dry_run => true)",
                 "select * from odl.odl_apply_patch(%s, %s, 1, propose => true)"):
        conn.execute("savepoint deeper")
        error = error_of_savepoint(conn, call, (doc_id, Jsonb(long_patch)))
        assert error.sqlstate == "ODL03" and "patch_bytes = 300" in error.diag.message_primary, (call, error)
    conn.execute("savepoint deeper")
    error = error_of_savepoint(conn, "select odl.odl_jsonpatch_apply('{}', %s)", (Jsonb(long_patch),))
    assert error.sqlstate == "ODL03", error
    six = [{"op": "test", "path": "", "value": {}}] * 6
    conn.execute("savepoint deeper")
    error = error_of_savepoint(conn, "select odl.odl_jsonpatch_apply('{}', %s)", (Jsonb(six),))
    assert error.sqlstate == "ODL06" and "engine_operations = 5" in error.diag.message_primary, error
    assert conn.execute("select odl.odl_jsonpatch_apply('{}', %s)", (Jsonb(six[:5]),)).fetchone()[0] == {}


def test_copies_cannot_amplify_a_small_patch_into_a_huge_document(conn):
    conn.execute("set role odl_analyst")
    doc = {"big": [{"a": i} for i in range(20_000)], "x": []}
    patch = [{"op": "copy", "from": "/big", "path": "/x/-"}] * 1_000  # 40 million values
    started = time.monotonic()
    error = error_of(conn, "select odl.odl_jsonpatch_apply(%s, %s)", (Jsonb(doc), Jsonb(patch)))
    assert error.sqlstate == "ODL01" and "document_bytes" in error.diag.message_primary, error
    assert time.monotonic() - started < 30


# --- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["1e400", "-1e400", "7e999"])
def test_non_finite_numbers_are_refused_naming_their_pointer(conn, document, project, number):
    doc_id, tenant = document
    as_app(conn, tenant)
    value = f'{{"list": [1, {{"n": {number}}}]}}'
    doc = json.dumps({**SMALL, "meta": {**SMALL["meta"], "bad": "@"}}).replace('"@"', value)
    patch = json.dumps([{"op": "add", "path": "/meta/bad", "value": "@"}]).replace('"@"', value)
    for call, params, pointer in (
        ("select odl.odl_canonical_json(%s::jsonb)", (value,), "/list/1/n"),
        ("select odl.odl_content_hash(%s::jsonb)", (value,), "/list/1/n"),
        ("select odl.odl_create_document(%s, %s::jsonb)", (project[0], doc), "/meta/bad/list/1/n"),
        ("select * from odl.odl_apply_patch(%s, %s::jsonb, 1)", (doc_id, patch), "/0/value/list/1/n"),
        ("select * from odl.odl_apply_patch(%s, %s::jsonb, 1, dry_run => true)", (doc_id, patch), "/0/value/list/1/n"),
        ("select * from odl.odl_apply_patch(%s, %s::jsonb, 1, propose => true)", (doc_id, patch), "/0/value/list/1/n"),
        ("select odl.odl_jsonpatch_apply('{}', %s::jsonb)", (patch.replace("/meta/bad", "/bad"),), "/0/value/list/1/n"),
    ):
        conn.execute("savepoint deeper")
        error = error_of_savepoint(conn, call, params)
        assert error.sqlstate == "22003", (call, error)
        assert f"at {pointer} is out of range" in error.diag.message_primary, error.diag.message_primary
        assert error.diag.message_detail == f"pointer {pointer}"
        assert_clean(error)
    found = conn.execute("select * from odl.odl_validate_document(%s::jsonb)", (doc,)).fetchall()
    assert ("/meta/bad/list/1/n", "error", "number is out of range: JSON numbers must be finite doubles") in found


def canonical_of(text: str) -> bytes:
    """RFC 8785 by the independent rfc8785 package: every number a double."""
    return rfc8785.dumps(json.loads(text, parse_int=float))


def test_canonical_form_and_hashes_agree_with_an_independent_rfc8785(dbname, project):
    """Every document stored for a realistic fixture set (ODL-SD documents,
    the float-heavy fixture, the spec fixture in its forms), every version
    of them after patches with awkward numbers, and every document stored
    in the database: odl_canonical_json, odl_content_hash and the stored
    doc_hash agree with the rfc8785 package."""
    project_id, tenant = project
    docs = [
        odlsd.generate(10_000, seed=1),
        odlsd.generate(60_000, seed=2),
        odlsd_floats.loads(odlsd_floats.dumps(odlsd_floats.generate(60_000, seed=3))),
        odlsd_floats.loads(odlsd_floats.dumps(odlsd_floats.generate(10_000, seed=4))),
        *(odlsd_spec.generate(20_000, seed=5, **forms) for forms in (
            {"hierarchy": "nested", "components": "map", "data_management": "nested"},
            {"hierarchy": "ids", "components": "grouped", "data_management": "flat"},
            {"hierarchy": "nested", "components": "array", "data_management": "odl_db"},
        )),
    ]
    awkward = ["1e21", "1E+2", "5E-7", "0.1", "1e-7", "123456789012345678901234567890", "-0", "2.50", "0.000001",
               "9007199254740993", "1.7976931348623157e308", "5e-324", "333333333.33333329"]
    with app_session(dbname, tenant) as conn:
        ids = []
        for doc in docs:
            text = odlsd_floats.dumps(doc)
            doc_id = conn.execute("select odl.odl_create_document(%s, %s::jsonb)", (project_id, text)).fetchone()[0]
            ids.append(doc_id)
            patch = "[" + ",".join(
                f'{{"op": "add", "path": "/meta/n{i}", "value": {{"v": [{n}], "\\u00e9\\ud83d\\ude00{i}": {n}}}}}'
                for i, n in enumerate(awkward)
            ) + "]"
            conn.execute("select * from odl.odl_apply_patch(%s, %s::jsonb, 1)", (doc_id, patch))
            conn.execute("select * from odl.odl_apply_patch(%s, %s::jsonb, 2)", (doc_id, '[{"op": "remove", "path": "/meta/n0"}]'))
        conn.commit()
        checked = 0
        for doc_id in ids:
            conn.execute("select odl.odl_set_context(%s, %s)", tenant)
            for version in (1, 2, 3):
                text, hashed, canonical = conn.execute(
                    "select g.document::text, odl.odl_content_hash(g.document), odl.odl_canonical_json(g.document)"
                    " from odl.odl_get_document(%s, %s) as g",
                    (doc_id, version),
                ).fetchone()
                expected = canonical_of(text)
                assert canonical.encode() == expected, (doc_id, version)
                assert hashed == "sha256:" + hashlib.sha256(expected).hexdigest()
                stored = conn.execute(
                    "select doc_hash from odl.odl_document_history(%s) where version = %s", (doc_id, version)
                ).fetchone()[0]
                assert stored == hashed, (doc_id, version)
                checked += 1
        conn.commit()
    assert checked == 3 * len(docs)
    # Every document any test stored in this database, as the owner reads them.
    with psycopg.connect(server_conninfo(dbname=dbname)) as admin:
        rows = admin.execute(
            "select doc_json::text, doc_hash, odl.odl_canonical_json(doc_json) from odl.odl_documents"
            " union all select doc_json::text, doc_hash, odl.odl_canonical_json(doc_json)"
            " from odl.odl_document_versions where doc_json is not null"
        ).fetchall()
    assert len(rows) >= 2 * len(docs)
    for text, stored, canonical in rows:
        expected = canonical_of(text)
        assert canonical.encode() == expected
        assert stored == "sha256:" + hashlib.sha256(expected).hexdigest()


# --- the validation cache ------------------------------------------------------------------


def test_a_number_that_hashes_as_an_integer_is_not_taken_for_one(dbname, document):
    """1 and 1.0000000000000000001 have one content hash (numbers are read
    as doubles); v0.1.0 cached validation results by it and stored the
    second in an integer field because the first had been valid."""
    doc_id, tenant = document
    pointer = "/instances/0/digital_twin/sync_frequency_hours"
    assert SMALL["instances"][0]["digital_twin"]["sync_frequency_hours"] == 6
    with app_session(dbname, tenant) as conn:
        same = conn.execute(
            "select odl.odl_content_hash(%s::jsonb) = odl.odl_content_hash('6')", ("6.0000000000000000001",)
        ).fetchone()[0]
        assert same
        # The stored document (6) was validated when created, and again here.
        conn.execute("select * from odl.odl_apply_patch(%s, %s::jsonb, 1, dry_run => true)",
                     (doc_id, f'[{{"op": "replace", "path": "{pointer}", "value": 6}}]'))
        for options in (", dry_run => true", "", ", propose => true"):
            error = error_of(
                conn, f"select * from odl.odl_apply_patch(%s, %s::jsonb, 1{options})",
                (doc_id, f'[{{"op": "replace", "path": "{pointer}", "value": 6.0000000000000000001}}]'),
            )
            conn.execute("select odl.odl_set_context(%s, %s)", tenant)
            assert error.sqlstate == "ODS01", (options, error)
            assert f"{pointer}: must be an integer" in error.diag.message_detail
        assert conn.execute("select version from odl.odl_document_heads() where doc_id = %s", (doc_id,)).fetchone()[0] == 1


# --- interrupts ------------------------------------------------------------------------------

# 10,000 moves of a 100,000-element array back and forth: within every
# default limit, and each move measures what it places (the depth check),
# so the call runs for minutes unless cancelled.
LONG_DOC = "jsonb_build_object('a', (select jsonb_agg(jsonb_build_object('k', i)) from generate_series(1, 100000) as i))"
LONG_PATCH = (
    "(select jsonb_agg(case when mod(i, 2) = 0 then '{\"op\": \"move\", \"from\": \"/a\", \"path\": \"/b\"}'::jsonb"
    " else '{\"op\": \"move\", \"from\": \"/b\", \"path\": \"/a\"}'::jsonb end) from generate_series(0, 9999) as i)"
)
LONG_CALL = f"select odl.odl_jsonpatch_apply({LONG_DOC}, {LONG_PATCH})"


def analyst(connect) -> psycopg.Connection:
    conn = connect(autocommit=True)
    conn.execute("set role odl_analyst")
    return conn


def test_statement_timeout_cancels_a_long_engine_call_within_a_second(connect):
    conn = analyst(connect)
    conn.execute("set statement_timeout = '300ms'")
    started = time.monotonic()
    error = error_of(conn, LONG_CALL)
    elapsed = time.monotonic() - started
    assert error.sqlstate == "57014", error
    assert error.diag.message_primary == "canceling statement due to statement timeout"
    assert_clean(error)
    assert elapsed < 1.3, elapsed
    assert conn.execute("select 1").fetchone()[0] == 1


def test_pg_cancel_backend_cancels_a_long_engine_call(connect):
    conn = analyst(connect)
    pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    outcome = {}

    def run():
        started = time.monotonic()
        try:
            conn.execute(LONG_CALL)
        except psycopg.Error as error:
            outcome["error"] = error
        outcome["ended"] = time.monotonic()
        outcome["started"] = started

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(1.0)  # well inside the engine's loop
    admin = connect()
    assert admin.execute("select pg_cancel_backend(%s)", (pid,)).fetchone()[0]
    cancelled = time.monotonic()
    worker.join(30)
    assert not worker.is_alive()
    assert outcome["error"].sqlstate == "57014"
    assert outcome["error"].diag.message_primary == "canceling statement due to user request"
    assert outcome["ended"] - cancelled < 1.0


def test_many_operations_are_cancelled_by_statement_timeout_once_the_owner_allows_them(dbname, connect):
    """1,000,000 operations, once a DBA raised engine_operations and
    patch_bytes: the engine checks for a cancel while it reads them."""
    admin = connect()
    admin.execute("update odl.limits set value = 1000000 where name = 'engine_operations'")
    admin.execute("update odl.limits set value = 64000000 where name = 'patch_bytes'")
    admin.commit()
    try:
        conn = analyst(connect)
        patch = "[" + ",".join(['{"op":"test","path":"/a","value":1}'] * 1_000_000) + "]"
        conn.execute("create temporary table p as select %s::jsonb as p", (patch,))
        conn.execute("select odl.odl_jsonpatch_apply('{}', '[]')")  # the engine loaded, as in a pool
        conn.execute("set statement_timeout = '300ms'")
        started = time.monotonic()
        error = error_of(conn, "select odl.odl_jsonpatch_apply('{\"a\": 1}', (select p from p))")
        elapsed = time.monotonic() - started
        assert error.sqlstate == "57014", error
        assert elapsed < 1.3, elapsed
    finally:
        admin.execute("update odl.limits set value = 10000 where name = 'engine_operations'")
        admin.execute("update odl.limits set value = 4194304 where name = 'patch_bytes'")
        admin.commit()


# --- errors without Python internals -----------------------------------------------------------


def test_null_and_wrong_arguments_give_documented_errors_without_python_internals(dbname, document, project):
    doc_id, tenant = document
    with app_session(dbname, tenant) as conn:
        # STRICT: NULL in, NULL out (or no rows).
        for call in ("select odl.odl_canonical_json(null)", "select odl.odl_content_hash(null)",
                     "select odl.odl_jsonpatch_apply(null, '[]')", "select odl.odl_jsonpatch_apply('{}', null)",
                     "select odl.odl_jsonpatch_inverse(null, null)"):
            assert conn.execute(call).fetchone()[0] is None, call
        assert conn.execute("select * from odl.odl_validate_document(null)").fetchall() == []
        cases = [
            (f"select odl.odl_create_document('{project[0]}', null)", "22004"),
            (f"select odl.odl_create_document('{project[0]}', '[1]')", "ODS02"),
            (f"select odl.odl_create_document('{project[0]}', '\"x\"')", "ODS02"),
            ("select odl.odl_jsonpatch_apply('{}', '\"x\"')", "ODP01"),
            ("select odl.odl_jsonpatch_apply('{}', '[1]')", "ODP01"),
            ("select odl.odl_jsonpatch_apply('{}', '[{\"op\": \"add\", \"path\": 1, \"value\": 1}]')", "ODP01"),
            ("select odl.odl_jsonpatch_apply('[]', '[{\"op\": \"add\", \"path\": \"/99999999999999999999999\", \"value\": 1}]')",
             "ODP03"),
            ("select odl.odl_canonical_json('\"\\ud800\"')", "22P02"),
            (f"select * from odl.odl_apply_patch('{doc_id}', null, 1)", "ODP01"),
            (f"select * from odl.odl_apply_patch('{doc_id}', '\"x\"', 1)", "ODP01"),
            (f"select * from odl.odl_apply_patch('{doc_id}', '[{{\"op\": \"add\", \"path\": \"/meta/x\"}}]', 1)", "ODP01"),
            (f"select * from odl.odl_apply_patch('{doc_id}', '[{{\"op\": \"remove\", \"path\": \"/instances\"}}]', null)",
             "22004"),
            (f"select * from odl.odl_revert_document('{doc_id}', 99, 1)", "ODD03"),
            ("select * from odl.odl_apply_patch(null, '[{\"op\": \"remove\", \"path\": \"/meta\"}]', 1)", "ODD01"),
        ]
        for call, sqlstate in cases:
            error = error_of(conn, call)
            conn.execute("select odl.odl_set_context(%s, %s)", tenant)
            assert error.sqlstate == sqlstate, (call, error)
            assert_clean(error)
