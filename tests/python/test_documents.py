"""The document store through its API, as odl_app: versions, exact inverses,
atomic failures, history, reverts and races. The acting user holds
super_user at the PORTFOLIO its project hangs under: it reads every section
of SMALL and writes all but audit, so creating SMALL and patching outside
the approval sections apply at once. The module runs in both context
modes (conftest's --token-mode).

Where a test acts as an application would (create, patch, read, revert,
retry on a conflict) it uses the Python client; where it pins the SQL
contract (the rows odl_apply_patch() returns, the SQLSTATE and the JSON
detail of each refusal) it calls the functions in SQL."""

from __future__ import annotations

import copy
import json
import sys
import threading

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb

from conftest import TOP, server_conninfo, set_app_context
from odl_client import DocumentError, OdlConnection, VersionConflict
from odl_db import canonical

sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

SMALL = odlsd.generate(10_000, seed=7)

pytestmark = pytest.mark.runs_in_token_mode


def app_session(dbname: str, tenant) -> psycopg.Connection:
    """An odl_app connection with the tenant's context set in its transaction."""
    conn = psycopg.connect(server_conninfo(dbname=dbname, user="odl_app"))
    set_app_context(conn, *tenant)
    return conn


@pytest.fixture
def app(dbname, login_tokens):
    """The application's connection, through the Python client."""
    with OdlConnection.connect(server_conninfo(dbname=dbname, user="odl_app"), tokens=login_tokens) as client:
        yield client


@pytest.fixture
def document(tenant, access, app):
    """A committed document of SMALL in a project of the tenant's user, who
    holds super_user at the node the project hangs under: (doc_id, tenant)."""
    access.assign("super_user")
    with app.transaction(*tenant) as odl:
        project = odl.create_project("docs")
    access.attach(project)
    with app.transaction(*tenant) as odl:
        return odl.create_document(project, SMALL), tenant


def apply(conn, doc_id, patch, expected, **options):
    """odl_apply_patch()'s row: version, doc_hash, inverse_patch, document,
    outcome, change_id, redacted."""
    names = "".join(f", {name} => %({name})s" for name in options)
    return conn.cursor(row_factory=namedtuple_row).execute(
        f"select * from odl.odl_apply_patch(%(doc)s, %(patch)s, %(expected)s{names})",
        {"doc": doc_id, "patch": Jsonb(patch), "expected": expected, **options},
    ).fetchone()


def current(conn, doc_id):
    """The current document as read, what was redacted from it, and its version."""
    return conn.execute(
        "select g.document, g.redacted, (select version from odl.odl_document_heads() where doc_id = %s)"
        " from odl.odl_get_document(%s) as g",
        (doc_id, doc_id),
    ).fetchone()


def test_created_document_is_version_1_with_its_content_hash(dbname, document):
    doc_id, tenant = document
    with app_session(dbname, tenant) as conn:
        stored, redacted = conn.execute("select * from odl.odl_get_document(%s)", (doc_id,)).fetchone()
    assert stored == SMALL and redacted == []
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        version, doc_hash = conn.execute(
            "select version, doc_hash from odl.odl_documents where doc_id = %s", (doc_id,)
        ).fetchone()
    assert (version, doc_hash) == (1, canonical.content_hash(SMALL))


def test_patch_returns_new_version_hash_and_exact_inverse(dbname, document):
    doc_id, tenant = document
    patch = [
        {"op": "replace", "path": "/instances/0/lifecycle_status", "value": "installed"},
        {"op": "add", "path": "/meta/notes", "value": ["first"]},
        {"op": "remove", "path": "/connections/0"},
    ]
    with app_session(dbname, tenant) as conn:
        result = apply(conn, doc_id, patch, 1)
        assert (result.version, result.document, result.outcome, result.change_id) == (2, None, "applied", None)
        after = conn.execute("select document from odl.odl_get_document(%s)", (doc_id,)).fetchone()[0]
        assert result.doc_hash == canonical.content_hash(after)
        back = conn.execute(
            "select odl.odl_jsonpatch_apply(%s, %s)", (Jsonb(after), Jsonb(result.inverse_patch))
        ).fetchone()[0]
    assert canonical.content_hash(back) == canonical.content_hash(SMALL)


def test_conflicting_version_is_refused_and_reports_the_current_one(dbname, document):
    doc_id, tenant = document
    with app_session(dbname, tenant) as conn:
        apply(conn, doc_id, [{"op": "add", "path": "/meta/a", "value": 1}], 1)
        with pytest.raises(psycopg.Error) as error:
            apply(conn, doc_id, [{"op": "add", "path": "/meta/b", "value": 1}], 1)
    assert error.value.sqlstate == "ODV01"
    assert json.loads(error.value.diag.message_detail)["current_version"] == 2


def test_dry_run_returns_the_would_be_document_and_writes_nothing(dbname, document):
    doc_id, tenant = document
    patch = [{"op": "add", "path": "/meta/dry", "value": True}]
    with app_session(dbname, tenant) as conn:
        result = apply(conn, doc_id, patch, 1, dry_run=True)
        assert (result.version, result.outcome, result.change_id) == (2, "applied", None)
        # A super_user may read every part, so the would-be document is whole.
        would_be = result.document
        assert would_be["meta"]["dry"] is True and result.redacted == []
        assert result.doc_hash == canonical.content_hash(would_be)
        assert result.inverse_patch == [{"op": "remove", "path": "/meta/dry"}]
        assert current(conn, doc_id) == (SMALL, [], 1)


@pytest.mark.parametrize(
    "patch, sqlstate, pointer",
    [
        ({"op": "add"}, "ODP01", None),
        ([{"op": "add", "path": "/meta/x", "value": i} for i in range(101)], "ODP02", None),
        ([{"op": "add", "path": "/meta/x", "value": 1}, {"op": "remove", "path": "/meta/nope/deeper"}], "ODP03", "/meta/nope/deeper"),
        # A top-level key that is no section: nobody holds a right on it.
        ([{"op": "add", "path": "/meta/x", "value": 1}, {"op": "remove", "path": "/nope/deeper"}], "ODR01", "nope"),
        ([{"op": "test", "path": "/schema_version", "value": "4.0"}], "ODP04", "/schema_version"),
        ([{"op": "replace", "path": "/instances/0/lifecycle_status", "value": "bogus"}], "ODS01", "/instances/0/lifecycle_status"),
        ([{"op": "replace", "path": "/connections/0/from/instance_id", "value": "ghost"}], "ODS02", "/connections/0/from/instance_id"),
        ([{"op": "replace", "path": "/schema_version", "value": "9.9"}], "ODS02", "/schema_version"),
    ],
    ids=[
        "malformed", "too-many", "path-not-found", "unknown-section", "test-failed", "schema-invalid",
        "dangling-connection", "unknown-version",
    ],
)
def test_failed_patch_names_the_problem_and_changes_nothing(dbname, document, patch, sqlstate, pointer):
    doc_id, tenant = document
    with app_session(dbname, tenant) as conn:
        with pytest.raises(psycopg.Error) as error:
            apply(conn, doc_id, patch, 1)
        conn.rollback()
        set_app_context(conn, *tenant)
        assert current(conn, doc_id) == (SMALL, [], 1)
    assert error.value.sqlstate == sqlstate
    if pointer:
        assert pointer in (error.value.diag.message_primary + (error.value.diag.message_detail or ""))


def test_unknown_document_is_refused(dbname, tenant):
    with app_session(dbname, tenant) as conn:
        with pytest.raises(psycopg.Error) as error:
            apply(conn, "01ARYZ6S41TSV4RRFFQ69G5FAV", [{"op": "add", "path": "/a", "value": 1}], 1)
    assert error.value.sqlstate == "ODD01"


def test_every_past_version_reads_back_exactly_and_revert_restores_one(app, document):
    doc_id, tenant = document
    expected = {1: copy.deepcopy(SMALL)}
    doc = copy.deepcopy(SMALL)
    with pytest.raises(DocumentError) as error:
        with app.transaction(*tenant) as odl:
            for version in range(2, 8):
                odl.apply_patch(doc_id, [{"op": "add", "path": f"/meta/step{version}", "value": version}], version - 1)
                doc["meta"][f"step{version}"] = version
                expected[version] = copy.deepcopy(doc)
            for version, content in expected.items():
                got = odl.get_document(doc_id, version)
                assert canonical.content_hash(got.document) == canonical.content_hash(content), version

            reverted = odl.revert(doc_id, 3, 7)
            assert (reverted.version, reverted.outcome) == (8, "applied")
            assert reverted.doc_hash == canonical.content_hash(expected[3])
            assert odl.get_document(doc_id).document == expected[3]
            odl.get_document(doc_id, 9)
    assert error.value.sqlstate == "ODD03"


def test_racing_clients_use_every_version_once_and_replay_to_the_final_hash(dbname, document, login_tokens):
    doc_id, tenant = document
    clients, attempts = 8, 6
    barrier = threading.Barrier(clients)
    committed: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def race(client: int) -> None:
        conninfo = server_conninfo(dbname=dbname, user="odl_app")
        try:
            with OdlConnection.connect(conninfo, tokens=login_tokens) as conn:
                barrier.wait()
                for attempt in range(attempts):
                    patch = [{"op": "add", "path": f"/meta/c{client}_{attempt}", "value": attempt}]
                    try:
                        with conn.transaction(*tenant) as odl:
                            new_version = odl.apply_patch(doc_id, patch, odl.head(doc_id).version).version
                    except VersionConflict:
                        continue
                    with lock:
                        committed.append(new_version)
        except BaseException as error:  # noqa: BLE001 - reported below, per client
            failures.append(error)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures, failures
    assert committed and sorted(committed) == list(range(2, 2 + len(committed)))
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        final_version, final_hash = conn.execute(
            "select version, doc_hash from odl.odl_documents where doc_id = %s", (doc_id,)
        ).fetchone()
        patches = [r[0] for r in conn.execute(
            "select patch_json from odl.odl_patches where doc_id = %s order by to_version", (doc_id,)
        )]
    assert final_version == 1 + len(committed) == 1 + len(patches)
    from odl_db import documents

    replayed = documents.replay(copy.deepcopy(SMALL), patches)
    assert canonical.content_hash(replayed) == final_hash
