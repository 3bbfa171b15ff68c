"""The write path's per-backend document cache never serves a stale
document: writers on several backends taking turns, racing, rolling back
(whole transactions and savepoints), two patches in one transaction, dry
runs, and numbers whose spelling differs but whose RFC 8785 hash does not
(2.5 and 2.50). After every step the stored document is compared, as jsonb
text (which keeps a number's spelling), with a model kept by the test, and
its hash with the model's RFC 8785 hash."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from conftest import server_conninfo
from odl_db import canonical, jsonpatch, pieces
from test_documents import SMALL, app_session


def dumps(value) -> str:
    """JSON text with every Decimal spelled as it is (the writer's own)."""
    return pieces.storage_text(value)


def as_jsonb(value):
    # Jsonb with exact numbers: psycopg's Jsonb would send floats.
    return Jsonb(value, dumps=dumps)


@pytest.fixture
def doc(dbname, tenant, access):
    """A document whose numbers are spelled with trailing zeros and
    exponents: (doc_id, tenant, model). The model is the document as the
    test expects it stored."""
    access.assign("super_user")
    model = json.loads(json.dumps(SMALL), parse_float=Decimal, parse_int=Decimal)
    model["requirements"] = {"export_limit_w": Decimal("2.50"), "ratio": Decimal("100.0"), "tiny": Decimal("0.00005")}
    with app_session(dbname, tenant) as conn:
        project = conn.execute("select odl.odl_create_project('cache')").fetchone()[0]
    access.attach(project)
    with app_session(dbname, tenant) as conn:
        doc_id = conn.execute("select odl.odl_create_document(%s, %s)", (project, as_jsonb(model))).fetchone()[0]
    return doc_id, tenant, model


def patch(conn, doc_id, operations, expected):
    return conn.execute(
        "select version, doc_hash from odl.odl_apply_patch(%s, %s, %s)", (doc_id, as_jsonb(operations), expected)
    ).fetchone()


def assert_stored(dbname, doc_id, model, version):
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        stored, expected, stored_version, doc_hash = conn.execute(
            "select d.doc_json::text, %s::jsonb::text, d.version, d.doc_hash from odl.odl_documents as d"
            " where d.doc_id = %s",
            (dumps(model), doc_id),
        ).fetchone()
    assert stored == expected
    assert (stored_version, doc_hash) == (version, canonical.content_hash(model))


def set_ratio(value: str):
    return [{"op": "replace", "path": "/requirements/export_limit_w", "value": Decimal(value)}]


def applied(model, operations):
    return jsonpatch.apply(json.loads(dumps(model), parse_float=Decimal, parse_int=Decimal), operations)[0]


def test_backends_taking_turns_each_write_on_the_latest_version(dbname, doc):
    doc_id, tenant, model = doc
    conns = [app_session(dbname, tenant) for _ in range(3)]
    for conn in conns:
        conn.commit()
    version = 1
    try:
        for step in range(9):
            conn = conns[step % 3]
            conn.execute("select odl.odl_set_context(%s, %s)", tenant)
            operations = [
                {"op": "replace", "path": "/instances/1/lifecycle_status", "value": ["planned", "installed"][step % 2]},
                {"op": "add", "path": f"/requirements/step_{step}", "value": Decimal(f"{step}.50")},
            ]
            version, _ = patch(conn, doc_id, operations, version)
            conn.commit()
            model = applied(model, operations)
            assert_stored(dbname, doc_id, model, version)
    finally:
        for conn in conns:
            conn.close()


def test_a_rolled_back_write_is_never_served_even_with_the_same_hash(dbname, doc):
    """2.50 and 2.5 hash alike (RFC 8785 reads numbers as doubles), so only
    the row's xmin tells the rolled-back version from the committed one."""
    doc_id, tenant, model = doc
    with app_session(dbname, tenant) as first, app_session(dbname, tenant) as second:
        patch(first, doc_id, set_ratio("7.50"), 1)
        first.rollback()
        second_version, second_hash = patch(second, doc_id, set_ratio("7.5"), 1)
        second.commit()
        first.execute("select odl.odl_set_context(%s, %s)", tenant)
        operations = [{"op": "add", "path": "/requirements/after", "value": Decimal("1.0")}]
        version, _ = patch(first, doc_id, operations, 2)
        first.commit()
    model = applied(applied(model, set_ratio("7.5")), operations)
    assert second_version == 2 and second_hash == canonical.content_hash(applied(doc[2], set_ratio("7.50")))
    assert_stored(dbname, doc_id, model, version)


def test_a_savepoint_rolled_back_and_two_patches_in_one_transaction(dbname, doc):
    doc_id, tenant, model = doc
    with app_session(dbname, tenant) as conn:
        conn.execute("savepoint before")
        patch(conn, doc_id, set_ratio("3.00"), 1)
        conn.execute("rollback to savepoint before")
        patch(conn, doc_id, set_ratio("3.0"), 1)
        patch(conn, doc_id, [{"op": "remove", "path": "/requirements/tiny"}], 2)
        conn.commit()
        conn.execute("select odl.odl_set_context(%s, %s)", tenant)
        version, _ = patch(conn, doc_id, [{"op": "add", "path": "/requirements/z", "value": Decimal("1E-7")}], 3)
        conn.commit()
    model = applied(model, set_ratio("3.0") + [{"op": "remove", "path": "/requirements/tiny"}])
    model = applied(model, [{"op": "add", "path": "/requirements/z", "value": Decimal("1E-7")}])
    assert_stored(dbname, doc_id, model, version)


def test_a_dry_run_between_writes_changes_nothing_cached(dbname, doc):
    doc_id, tenant, model = doc
    with app_session(dbname, tenant) as conn:
        dry = conn.execute(
            "select version, document::text from odl.odl_apply_patch(%s, %s, 1, dry_run => true)",
            (doc_id, as_jsonb(set_ratio("9.90"))),
        ).fetchone()
        version, _ = patch(conn, doc_id, set_ratio("8.80"), 1)
        conn.commit()
    assert dry[0] == 2 and '"export_limit_w": 9.90' in dry[1]
    assert_stored(dbname, doc_id, applied(model, set_ratio("8.80")), version)


def test_racing_writers_on_four_backends_lose_no_update(dbname, doc):
    """Each writer adds its own counter and retries on a version conflict;
    afterwards every write is in the document, once."""
    doc_id, tenant, model = doc
    writes_each = 8
    failures = []

    def writer(number: int) -> None:
        try:
            with app_session(dbname, tenant) as conn:
                conn.commit()
                done = 0
                while done < writes_each:
                    conn.execute("select odl.odl_set_context(%s, %s)", tenant)
                    version = conn.execute(
                        "select version from odl.odl_document_heads() where doc_id = %s", (doc_id,)
                    ).fetchone()[0]
                    try:
                        patch(
                            conn, doc_id,
                            [{"op": "add", "path": f"/requirements/w{number}_{done}", "value": Decimal(f"{done}.10")}],
                            version,
                        )
                        conn.commit()
                        done += 1
                    except psycopg.Error as error:
                        if error.sqlstate != "ODV01":
                            raise
                        conn.rollback()
        except Exception as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for number in range(4):
        for done in range(writes_each):
            model["requirements"][f"w{number}_{done}"] = Decimal(f"{done}.10")
    assert_stored(dbname, doc_id, model, 1 + 4 * writes_each)


SPELLINGS = st.sampled_from(["2.5", "2.50", "2.500", "25E-1", "0.00005", "5E-5", "100", "100.0", "1E+2"])
STEPS = st.lists(
    st.tuples(st.integers(0, 2), SPELLINGS, st.sampled_from(["commit", "rollback", "savepoint"])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_any_interleaving_of_backends_commits_and_rollbacks_stores_the_model(dbname, doc, steps):
    doc_id, tenant, start = doc
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        version, = conn.execute("select version from odl.odl_documents where doc_id = %s", (doc_id,)).fetchone()
        stored = conn.execute("select doc_json::text from odl.odl_documents where doc_id = %s", (doc_id,)).fetchone()
    model = json.loads(stored[0], parse_float=Decimal, parse_int=Decimal)
    conns = [app_session(dbname, tenant) for _ in range(3)]
    try:
        for conn in conns:
            conn.commit()
        for which, spelling, ending in steps:
            conn = conns[which]
            conn.execute("select odl.odl_set_context(%s, %s)", tenant)
            operations = set_ratio(spelling)
            if ending == "savepoint":
                conn.execute("savepoint s")
                patch(conn, doc_id, operations, version)
                conn.execute("rollback to savepoint s")
                conn.commit()
                continue
            new_version, _ = patch(conn, doc_id, operations, version)
            if ending == "rollback":
                conn.rollback()
                continue
            conn.commit()
            version, model = new_version, applied(model, operations)
            assert_stored(dbname, doc_id, model, version)
    finally:
        for conn in conns:
            conn.close()


def test_a_backend_behind_catches_up_by_the_patches_not_by_reading_the_document(dbname, doc):
    """Writers in a pool of connections take turns: a backend that last
    wrote two versions ago replays the two patches written since."""
    doc_id, tenant, model = doc
    conns = [psycopg.connect(server_conninfo(dbname=dbname)) for _ in range(2)]
    version = 1
    try:
        for step in range(6):
            conn = conns[step % 2]
            conn.execute("select odl.odl_set_context(%s, %s)", tenant)
            operations = [{"op": "add", "path": f"/requirements/turn_{step}", "value": Decimal(f"{step}.0")}]
            version, _ = patch(conn, doc_id, operations, version)
            conn.commit()
            model = applied(model, operations)
        stats = [conn.execute("select odl.document_cache_stats()").fetchone()[0] for conn in conns]
    finally:
        for conn in conns:
            conn.close()
    assert_stored(dbname, doc_id, model, version)
    # Each backend read the document once, then caught up on every turn.
    assert [(s["read"], s["caught_up"], s["hits"]) for s in stats] == [(1, 2, 0), (1, 2, 0)]


def test_a_document_replaced_while_it_is_read_is_a_version_conflict_and_is_not_cached():
    """A dry run reads without the row lock: when the row is no longer the
    version it locked on, the text is refused rather than cached under the
    older version's key."""
    from odl_db import documents

    class Replaced:
        def stored(self, doc_id, version, xmin):
            return None

        def blobs(self, hashes):
            raise AssertionError("no blob is read for a row that is gone")

        def history(self, doc_id, version, upto):
            return None

    cache = documents.DocumentCache(1 << 30)
    written = documents.write(
        cache, Replaced(), "doc", 3, "sha256:" + "0" * 64, "123", "[]", lambda version: None, {}, 100
    )
    assert (written.sqlstate, written.message) == ("ODV01", "version conflict")
    assert cache.stats()["documents"] == 0
