"""The read cache (client/odl_client/cache.py) against a real Redis
(Debian's redis-server, started here as a child process on a free port)
and the notifications it relies on (sql/045_change_notify); the JSON
detail of ODV01; odl_find_user()."""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import psycopg
from psycopg import sql
import pytest
import redis

from conftest import server_conninfo
from odl_client import ContextError, InsufficientPrivilege, OdlAdmin, OdlError, OdlPool, UserRecord, VersionConflict
from odl_client.cache import ReadCache
from odl_client.errors import versions_from_detail


def new_document(name: str = "Cache farm") -> dict:
    return {
        "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
        "schema_version": "4.1",
        "meta": {"project": name, "domain": "PV", "scale": "UTILITY"},
        "hierarchy": {"id": "PF-1", "type": "PORTFOLIO", "name": name, "children": []},
        "instances": [],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_server():
    """A private redis-server: no persistence, loopback only."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    workdir = tempfile.mkdtemp(prefix="odl-redis-")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        yield client
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def app_conninfo(dbname) -> str:
    return server_conninfo(dbname=dbname, user="odl_app")


@pytest.fixture
def pool(app_conninfo):
    with OdlPool(app_conninfo, min_size=1, max_size=8) as odl_pool:
        yield odl_pool


@pytest.fixture
def cache(redis_server, app_conninfo):
    with ReadCache(redis_server, app_conninfo, prefix=f"test:{uuid.uuid4().hex[:8]}:") as read_cache:
        assert read_cache.trusted
        yield read_cache


@dataclass
class Team:
    tenant_id: str
    writer: str
    guest: str
    guest_assignment: str
    project_id: str
    node_id: str
    admin_id: str


@pytest.fixture
def team(access, pool) -> Team:
    access.assign("super_user")
    guest = access.create_user("guest", mfa_enabled=False)
    guest_assignment = access.assign("guest", guest)
    with pool.transaction(access.tenant_id, access.user_id) as odl:
        project_id = odl.create_project(f"cache-{uuid.uuid4().hex[:6]}")
    access.attach(project_id)
    return Team(access.tenant_id, access.user_id, guest, guest_assignment, project_id, access.node_id,
                access.admin_id)


@pytest.fixture
def doc_id(team, pool) -> str:
    with pool.transaction(team.tenant_id, team.writer) as odl:
        return odl.create_document(team.project_id, new_document())


def seq_patch(value: int) -> list:
    return [{"op": "add", "path": "/meta/seq", "value": value}]


def direct(pool, team, user, doc_id, version=None):
    with pool.transaction(team.tenant_id, user) as odl:
        return odl.get_document(doc_id, version)


def outcome(read) -> tuple:
    """What a read returned, or the SQLSTATE it raised."""
    try:
        return ("read", read())
    except OdlError as error:
        return ("error", error.sqlstate)


# -- notifications after commit ----------------------------------------------------

def listen(listener: psycopg.Connection) -> None:
    """LISTENs on the secret change channel, whose name an application reads."""
    listener.execute(sql.SQL("listen {}").format(sql.Identifier(change_channel(listener))))


def change_channel(conn: psycopg.Connection) -> str:
    return conn.execute("select odl.odl_change_channel()").fetchone()[0]


def received(listener: psycopg.Connection, timeout: float = 0.5) -> list[dict]:
    channel = change_channel(listener)
    return [json.loads(n.payload) for n in listener.notifies(timeout=timeout) if n.channel == channel]


def test_every_stored_version_is_notified_after_commit_and_never_on_rollback(connect, team, pool):
    listener = connect(autocommit=True)
    listen(listener)
    with pool.transaction(team.tenant_id, team.writer) as odl:
        doc_id = odl.create_document(team.project_id, new_document())
        assert received(listener, 0.3) == [], "a notification arrived before the commit"
    with pool.transaction(team.tenant_id, team.writer) as odl:
        head = odl.head(doc_id)
    assert received(listener) == [
        {"kind": "version", "tenant_id": team.tenant_id, "doc_id": doc_id, "version": 1, "doc_hash": head.doc_hash}
    ]

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        with pool.transaction(team.tenant_id, team.writer) as odl:
            odl.apply_patch(doc_id, seq_patch(-1), 1)
            raise Rollback
    assert received(listener) == [], "a rolled back version was notified"

    with pool.transaction(team.tenant_id, team.writer) as odl:
        written = odl.apply_patch(doc_id, seq_patch(2), 1)
        reverted = odl.revert(doc_id, 1, 2)
    assert received(listener) == [
        {"kind": "version", "tenant_id": team.tenant_id, "doc_id": doc_id, "version": 2, "doc_hash": written.doc_hash},
        {"kind": "version", "tenant_id": team.tenant_id, "doc_id": doc_id, "version": 3,
         "doc_hash": reverted.doc_hash},
    ]


def test_rights_and_policy_changes_are_notified(connect, access, conn):
    listener = connect(autocommit=True)
    listen(listener)
    access.assign("engineer")
    assert {"kind": "rights", "tenant_id": access.tenant_id} in received(listener)
    conn.execute("update odl.rbac_sections set section = section")  # changes nothing
    conn.commit()
    assert {"kind": "policy"} in received(listener)


def test_rights_stable_until_is_the_next_start_or_end_of_an_assignment(access, team):
    user = access.create_user("engineer")
    with access.session(team.admin_id) as admin:
        admin.execute(
            "select odl.odl_assign_role(%s, %s, 'engineer', now() + interval '1 hour', now() + interval '2 hours')",
            (user, team.node_id),
        )
    with access.session(user) as conn:
        until, start = conn.execute(
            "select odl.odl_rights_stable_until(), now() + interval '1 hour'"
        ).fetchone()
    # Both are an hour after their own transaction's start, a moment apart.
    assert start - timedelta(seconds=5) < until <= start
    with access.session(team.writer) as conn:
        assert conn.execute("select odl.odl_rights_stable_until()").fetchone()[0] is None


# -- the cache -------------------------------------------------------------------

def test_a_second_read_is_a_hit_and_a_new_version_is_read_at_once(cache, pool, team, doc_id):
    first = cache.get_document(pool, team.tenant_id, team.writer, doc_id)
    again = cache.get_document(pool, team.tenant_id, team.writer, doc_id)
    assert (first.version, again) == (1, first)
    assert (cache.stats["misses"], cache.stats["hits"]) == (1, 1)
    with pool.transaction(team.tenant_id, team.writer) as odl:
        odl.apply_patch(doc_id, seq_patch(2), 1)
    # No waiting: the barrier makes the commit visible to the very next read.
    now = cache.get_document(pool, team.tenant_id, team.writer, doc_id)
    assert (now.version, now.document["meta"]["seq"]) == (2, 2)
    # Version 1 was cached when it was the current one.
    assert cache.get_document(pool, team.tenant_id, team.writer, doc_id, 1) == first
    assert cache.stats["hits"] == 2


def test_heads_are_cached_until_the_tenant_stores_a_version(cache, pool, team, doc_id):
    heads = cache.heads(pool, team.tenant_id, team.writer, team.project_id)
    assert [(h.doc_id, h.version) for h in heads] == [(doc_id, 1)]
    assert cache.heads(pool, team.tenant_id, team.writer, team.project_id) == heads
    assert cache.stats["hits"] == 1
    with pool.transaction(team.tenant_id, team.writer) as odl:
        other = odl.create_document(team.project_id, new_document("Second farm"))
    assert sorted((h.doc_id, h.version) for h in cache.heads(pool, team.tenant_id, team.writer, team.project_id)) \
        == sorted([(doc_id, 1), (other, 1)])


def test_each_user_gets_the_read_redacted_for_them(cache, pool, team, doc_id):
    with pool.transaction(team.tenant_id, team.writer) as odl:
        odl.apply_patch(doc_id, [{"op": "add", "path": "/instances/-",
                                  "value": {"id": "INV-1", "type_ref": "inverter"}}], 1)
    for _ in range(2):
        for user in (team.writer, team.guest):
            assert cache.get_document(pool, team.tenant_id, user, doc_id) == direct(pool, team, user, doc_id)
    assert cache.stats["hits"] == 2


def test_a_revoked_role_is_never_served_from_the_cache(cache, pool, team, doc_id, access):
    assert cache.get_document(pool, team.tenant_id, team.guest, doc_id).version == 1
    assert cache.get_document(pool, team.tenant_id, team.guest, doc_id).version == 1
    with access.session(team.admin_id) as admin:
        admin.execute("select odl.odl_revoke_role(%s, %s, 'guest')", (team.guest, team.node_id))
    now = outcome(lambda: direct(pool, team, team.guest, doc_id))
    assert now[0] == "error", "the revoked guest still reads the document"
    assert outcome(lambda: cache.get_document(pool, team.tenant_id, team.guest, doc_id)) == now


def test_an_assignment_that_ends_by_the_clock_ends_the_cached_read(cache, pool, team, doc_id, access):
    user = access.create_user("engineer")
    with access.session(team.admin_id) as admin:
        admin.execute(
            "select odl.odl_assign_role(%s, %s, 'engineer', now(), clock_timestamp() + interval '1.5 seconds')",
            (user, team.node_id),
        )
    assert cache.get_document(pool, team.tenant_id, user, doc_id).version == 1
    assert cache.get_document(pool, team.tenant_id, user, doc_id).version == 1
    assert cache.stats["hits"] == 1
    time.sleep(2)
    now = outcome(lambda: direct(pool, team, user, doc_id))
    assert now[0] == "error", "the assignment did not end"
    assert outcome(lambda: cache.get_document(pool, team.tenant_id, user, doc_id)) == now


def test_without_its_listener_the_cache_reads_the_database(redis_server, app_conninfo, pool, team, doc_id):
    idle = ReadCache(redis_server, app_conninfo, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    assert not idle.trusted
    assert idle.get_document(pool, team.tenant_id, team.writer, doc_id).version == 1
    assert idle.stats["bypassed"] == 1 and idle.stats["hits"] == 0
    idle.close()


def test_a_version_written_while_the_listener_is_away_is_never_served_stale(
        redis_server, app_conninfo, pool, team, doc_id, connect):
    with ReadCache(redis_server, app_conninfo, prefix=f"test:{uuid.uuid4().hex[:8]}:",
                   reconnect_delay=1.0) as read_cache:
        assert read_cache.get_document(pool, team.tenant_id, team.writer, doc_id).version == 1
        assert read_cache.get_document(pool, team.tenant_id, team.writer, doc_id).version == 1
        killer = connect(autocommit=True)
        killer.execute("select pg_terminate_backend(%s)", (read_cache.listener_pid,))
        deadline = time.monotonic() + 5
        while read_cache.trusted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not read_cache.trusted
        with pool.transaction(team.tenant_id, team.writer) as odl:
            odl.apply_patch(doc_id, seq_patch(2), 1)  # no listener of this cache hears it
        assert read_cache.get_document(pool, team.tenant_id, team.writer, doc_id).version == 2
        assert read_cache.stats["bypassed"] == 1
        read_cache.start()
        assert read_cache.trusted and read_cache.stats["reconnects"] >= 1
        assert read_cache.get_document(pool, team.tenant_id, team.writer, doc_id).version == 2
        assert read_cache.get_document(pool, team.tenant_id, team.writer, doc_id).version == 2
        assert read_cache.stats["hits"] == 2


def test_no_stale_read_under_concurrent_writers_rollbacks_and_reconnects(
        redis_server, app_conninfo, team, access, connect):
    """Writers on their own connections patch three documents (one write in
    four rolls back after writing a value nobody may ever see); readers read
    through the cache. A read is stale when it returns a version older than
    one whose commit had returned before the read began, or content that is
    not that version's. Meanwhile the listener's backend is killed twice."""
    with OdlPool(app_conninfo, min_size=2, max_size=8) as pool:
        docs = []
        with pool.transaction(team.tenant_id, team.writer) as odl:
            for n in range(3):
                doc = odl.create_document(team.project_id, new_document(f"farm {n}"))
                odl.apply_patch(doc, seq_patch(1), 1)  # version 2, seq 1 (seq = version - 1)
                docs.append(doc)
        committed = {doc: 2 for doc in docs}
        lock = threading.Lock()
        stop = threading.Event()
        stale: list[str] = []
        errors: list[BaseException] = []
        reads = [0]

        def writer(seed: int) -> None:
            rng = random.Random(seed)
            try:
                with psycopg.connect(app_conninfo) as conn:
                    while not stop.is_set():
                        doc = rng.choice(docs)
                        conn.execute("select odl.odl_set_context(%s, %s)", (team.tenant_id, team.writer))
                        version = conn.execute("select max(version) from odl.odl_document_heads() where doc_id = %s",
                                               (doc,)).fetchone()[0]
                        rollback = rng.random() < 0.25
                        try:
                            conn.execute("select * from odl.odl_apply_patch(%s, %s::jsonb, %s)",
                                         (doc, json.dumps(seq_patch(-1 if rollback else version)), version))
                        except psycopg.Error as error:
                            conn.rollback()
                            if error.sqlstate != "ODV01":
                                raise
                            continue
                        if rollback:
                            conn.rollback()
                        else:
                            conn.commit()
                            with lock:
                                committed[doc] = max(committed[doc], version + 1)
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

        def reader(cache: ReadCache, seed: int) -> None:
            rng = random.Random(seed)
            try:
                while not stop.is_set():
                    doc = rng.choice(docs)
                    with lock:
                        floor = committed[doc]
                    read = cache.get_document(pool, team.tenant_id, team.writer, doc)
                    if read.version < floor or read.document["meta"].get("seq") != read.version - 1:
                        stale.append(f"{doc} v{read.version} seq {read.document['meta'].get('seq')} floor {floor}")
                    with lock:
                        reads[0] += 1
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

        with ReadCache(redis_server, app_conninfo, prefix=f"test:{uuid.uuid4().hex[:8]}:",
                       reconnect_delay=0.05) as cache:
            threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
            threads += [threading.Thread(target=reader, args=(cache, 100 + n)) for n in range(4)]
            for thread in threads:
                thread.start()
            killer = connect(autocommit=True)
            for _ in range(2):
                time.sleep(1.5)
                pid = cache.listener_pid
                if pid is not None:
                    killer.execute("select pg_terminate_backend(%s)", (pid,))
            time.sleep(1.5)
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            stats = dict(cache.stats)
    assert not errors, errors
    assert stale == []
    assert reads[0] > 50 and stats["hits"] > 0 and stats["reconnects"] >= 2
    assert min(committed.values()) > 2, "the writers wrote nothing"


# -- ODV01 carries both versions as JSON --------------------------------------------

def test_a_version_conflict_names_both_versions_in_a_json_detail(pool, team, doc_id):
    with pool.transaction(team.tenant_id, team.writer) as odl:
        odl.apply_patch(doc_id, seq_patch(1), 1)
        odl.apply_patch(doc_id, seq_patch(2), 2)
    expected = {"doc_id": doc_id, "expected_version": 1, "current_version": 3}
    for options in ({}, {"dry_run": True}, {"propose": True}):
        with pytest.raises(VersionConflict) as conflict:
            with pool.transaction(team.tenant_id, team.writer) as odl:
                odl.apply_patch(doc_id, seq_patch(9), 1, **options)
        assert json.loads(conflict.value.detail) == expected, options
        assert (conflict.value.doc_id, conflict.value.expected_version, conflict.value.current_version) == (
            doc_id, 1, 3)
    with pytest.raises(VersionConflict) as conflict:
        with pool.transaction(team.tenant_id, team.writer) as odl:
            odl.revert(doc_id, 1, 2)
    assert json.loads(conflict.value.detail) == {"doc_id": doc_id, "expected_version": 2, "current_version": 3}


def test_the_version_parser_reads_only_numbers_from_json():
    assert versions_from_detail('{"doc_id": "d", "expected_version": 4, "current_version": 7}') == (4, 7)
    assert versions_from_detail('{"expected_version": 4, "current_version": null}') == (4, None)
    assert versions_from_detail('{"expected_version": true, "current_version": "7"}') == (None, None)
    assert versions_from_detail("expected version 1, current version 2") == (None, None)
    assert versions_from_detail(None) == (None, None)


# -- an administrator finds a user by e-mail ------------------------------------------

def test_an_administrator_finds_a_user_by_email_in_any_case(dbname, access, connect):
    email = f"Ada.{uuid.uuid4().hex[:6]}@Example.com"
    with psycopg.connect(server_conninfo(dbname=dbname, user="postgres")) as setup:
        setup.execute("set role odl_admin")
        user_id = setup.execute("select odl.odl_create_user(%s, %s, 'engineer')",
                                (access.tenant_id, email)).fetchone()[0]
        other_tenant = setup.execute("select odl.odl_create_tenant(%s, 'EU')",
                                     (f"t-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
    admin_conn = connect(autocommit=True)
    admin_conn.execute("set role odl_admin")
    admin = OdlAdmin(admin_conn)
    assert admin.find_user(access.tenant_id, email.upper()) == UserRecord(user_id, "engineer", True, None)
    assert admin.find_user(access.tenant_id, email.lower()) == UserRecord(user_id, "engineer", True, None)
    assert admin.find_user(access.tenant_id, "nobody@example.com") is None
    assert admin.find_user(other_tenant, email) is None
    with pytest.raises(ContextError) as unknown:
        admin.find_user("01ARZ3NDEKTSV4RRFFQ69G5FAV", email)
    assert unknown.value.sqlstate == "ODC03"
    # The caller's context, if any, is left as it was.
    assert admin_conn.execute("select odl.odl_current_tenant_id()").fetchone()[0] is None

    app = connect(user="odl_app", autocommit=True)
    with pytest.raises(InsufficientPrivilege):
        OdlAdmin(app).find_user(access.tenant_id, email)


def test_the_change_channel_is_secret(connect, team, pool, dbname):
    """Events name every tenant's documents: the channel is not
    `odl_changes`, and only applications may read its name."""
    app = connect(user="odl_app")
    channel = change_channel(app)
    assert channel.startswith("odl_changes_") and len(channel) == len("odl_changes_") + 40
    for role in ("odl_analyst", "odl_admin"):
        other = connect(autocommit=True)
        other.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            change_channel(other)
    guessing = connect(autocommit=True)
    guessing.execute("listen odl_changes")
    with pool.transaction(team.tenant_id, team.writer) as odl:
        odl.create_document(team.project_id, new_document())
    assert [n for n in guessing.notifies(timeout=0.5)] == []
