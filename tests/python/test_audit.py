"""The audit ledger from outside: the chain recomputed in Python from
exported rows, tampering planted by a superuser and found by
odl_audit_verify(), concurrent writers, and a crash in the middle of a
write load."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import TOP, server_conninfo

PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
GENESIS = bytes(32)
PROJECT_ID, DOC_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV", "01BX5ZZKBKACTAV9WEVGEMMVRZ"

EXPORT = """
select seq, created_at, tenant_id, event_id, actor_id, project_id, doc_id, action,
       payload::text, prev_hash, hash, key_id, signature
from odl.odl_audit_since(%s, %s, %s)
"""


def canonical(row: dict) -> bytes:
    """The canonical event of README "Audit ledger", from an exported row."""
    micros = (row["created_at"] - PG_EPOCH) // timedelta(microseconds=1)
    fields = [
        str(row["seq"]), row["tenant_id"], row["event_id"], row["actor_id"] or "",
        row["project_id"] or "", row["doc_id"] or "", row["action"], row["payload"],
    ]
    return struct.pack(">q", micros) + "|".join(fields).encode("utf-8")


def recompute(rows: list[dict]) -> None:
    """Asserts that the rows are a gapless chain from seq 1."""
    prev = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        assert row["seq"] == expected_seq
        assert row["prev_hash"] == prev
        assert row["hash"] == hashlib.sha256(prev + canonical(row)).digest()
        prev = row["hash"]


def hmac_key(inner_key: bytes) -> bytes:
    """The 64-byte key K back from its stored inner pad."""
    return bytes(b ^ 0x36 for b in inner_key)


def export(conn: psycopg.Connection, tenant_id: str, after: int = 0, limit: int = 100_000) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(EXPORT, (tenant_id, after, limit)).fetchall()


def chain_length(conn: psycopg.Connection, tenant_id: str) -> int:
    """The seq of the tenant's last event (as a superuser sees it). Creating
    a tenant and its users already appends to its chain, so a test counts
    its own events from here."""
    return conn.execute(
        "select coalesce(max(seq), 0) from odl.audit_events where tenant_id = %s", (tenant_id,)
    ).fetchone()[0]


def append(conn: psycopg.Connection, tenant_id: str, user_id: str, count: int, payload=None) -> None:
    """count events in the connection's current transaction, as the superuser
    calling the internal append of the API functions."""
    conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
    for i in range(count):
        conn.execute(
            "select odl.audit_append('test.event', %s)", (Jsonb(payload or {"i": i, "note": f"event {i}"}),)
        )
    conn.execute("select odl.odl_clear_context()")


def verify(conn: psycopg.Connection, tenant_id: str, digest=None) -> dict:
    return conn.execute(
        "select odl.odl_audit_verify(%s, %s)", (tenant_id, Jsonb(digest) if digest else None)
    ).fetchone()[0]


def digest_of(conn: psycopg.Connection, tenant_id: str) -> dict:
    return conn.execute("select odl.odl_audit_digest(%s)", (tenant_id,)).fetchone()[0]


def broken(seq: int, reason: str) -> dict:
    return {"ok": False, "first_broken_seq": seq, "reason": reason}


def outcome(result: dict) -> dict:
    return {k: result[k] for k in ("ok", "first_broken_seq", "reason")}


# -- The canonical form, recomputed outside the database ---------------------


def test_a_new_tenant_chain_opens_with_its_creation_events(conn, tenant):
    tenant_id, user_id = tenant
    name, region = conn.execute("select name, region from odl.tenants where tenant_id = %s", (tenant_id,)).fetchone()
    rows = export(conn, tenant_id)
    assert [(r["seq"], r["action"], r["actor_id"], json.loads(r["payload"])) for r in rows] == [
        (1, "tenant.created", None, {"name": name, "region": region}),
        (2, "user.created", None, {"user_id": user_id, "role": "engineer", "mfa_enabled": True}),
    ]
    assert all(r["project_id"] is None and r["doc_id"] is None for r in rows)
    recompute(rows)
    assert verify(conn, tenant_id, digest_of(conn, tenant_id)) == {
        "ok": True, "checked": 2, "first_broken_seq": None, "reason": None,
    }


def test_exported_chain_recomputes_in_python(conn, tenant):
    tenant_id, user_id = tenant
    before = chain_length(conn, tenant_id)
    payloads = [
        {"ascii": "plain"},
        {"nested": {"z": [1, 2.50, 1e3, -0.0, 12345678901234567890], "a": None}, "b": True},
        {"text": "Grüße, 太陽光, emoji \U0001f600, quote \" backslash \\ pipe | tab \t newline \n"},
        {"": "", "longer key": 1, "k": 2},
        [],
        "a bare string",
    ]
    conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
    for payload in payloads:
        conn.execute("select odl.audit_append('test.payload', %s)", (Jsonb(payload),))
    conn.execute("select odl.audit_append('document.created', '{}', %s, %s)", (PROJECT_ID, DOC_ID))
    conn.execute("select odl.odl_clear_context()")
    conn.execute("select odl.audit_append_as(%s, null, 'tenant.created', '{\"by\": \"admin\"}')", (tenant_id,))

    rows = export(conn, tenant_id)
    assert len(rows) == before + len(payloads) + 2
    recompute(rows)
    ours = rows[before:]
    assert ours[-1]["actor_id"] is None and ours[0]["actor_id"] == user_id
    assert (ours[-2]["project_id"], ours[-2]["doc_id"]) == (PROJECT_ID, DOC_ID)
    assert [json.loads(r["payload"]) for r in ours[: len(payloads)]] == payloads

    # Signatures and the digest, with the key the database holds.
    keys = dict(conn.execute("select key_id, inner_key from odl.audit_keys").fetchall())
    for row in rows:
        key = hmac_key(keys[row["key_id"]])
        assert row["signature"] == hmac.new(key, row["hash"], hashlib.sha256).digest()
    digest = digest_of(conn, tenant_id)
    assert digest["seq"] == len(rows) and digest["hash"] == rows[-1]["hash"].hex()
    assert digest["time"] == rows[-1]["created_at"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    message = f"odl-audit-digest-v1|{tenant_id}|{digest['seq']}|{digest['hash']}|{digest['time']}"
    expected = hmac.new(hmac_key(keys[digest["key_id"]]), message.encode(), hashlib.sha256).hexdigest()
    assert digest["signature"] == expected
    assert outcome(verify(conn, tenant_id, digest)) == {"ok": True, "first_broken_seq": None, "reason": None}


def test_export_resumes_exactly_after_a_seq(conn, tenant):
    tenant_id, user_id = tenant
    before = chain_length(conn, tenant_id)
    append(conn, tenant_id, user_id, 7)
    shipped = []
    after = 0
    while batch := export(conn, tenant_id, after, 3):
        shipped += batch
        after = batch[-1]["seq"]
    assert [r["seq"] for r in shipped] == list(range(1, before + 8))
    assert [r["action"] for r in shipped[-7:]] == ["test.event"] * 7
    recompute(shipped)


def test_every_append_notifies_with_tenant_and_seq(dbname, tenant, connect):
    tenant_id, user_id = tenant
    listener = connect(autocommit=True)
    listener.execute("listen odl_audit")
    writer = connect()
    writer.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
    seqs = [writer.execute("select odl.audit_append('test.notify', '{}')").fetchone()[0] for _ in range(3)]
    writer.commit()
    received = []
    for note in listener.notifies(timeout=5, stop_after=3):
        received.append(json.loads(note.payload))
    assert received == [{"tenant_id": tenant_id, "seq": s} for s in seqs]


def test_key_rotation_keeps_old_signatures_verifiable(conn, tenant):
    tenant_id, user_id = tenant
    append(conn, tenant_id, user_id, 2)
    old_digest = digest_of(conn, tenant_id)
    new_key = conn.execute("select odl.odl_audit_rotate_key()").fetchone()[0]
    append(conn, tenant_id, user_id, 2)
    rows = export(conn, tenant_id)
    assert [r["key_id"] for r in rows][-1] == new_key != rows[0]["key_id"]
    assert digest_of(conn, tenant_id)["key_id"] == new_key
    assert outcome(verify(conn, tenant_id, old_digest))["ok"] is True
    assert conn.execute("select count(*) from odl.audit_keys where retired_at is null").fetchone()[0] == 1


# -- Tampering, planted by a superuser with the triggers switched off -------

N = 10  # events a tampering test appends, after the tenant's creation events


def _rehash_from(conn, tenant_id: str, start: int, resign: bool) -> int:
    """Recomputes prev_hash and hash (and the head) from seq start onward, as
    an attacker who knows the canonical form would; with resign, the
    signatures too, with the key the database holds. Returns the head's seq."""
    rows = export(conn, tenant_id)
    keys = dict(conn.execute("select key_id, inner_key from odl.audit_keys").fetchall())
    prev = rows[start - 2]["hash"] if start > 1 else GENESIS
    for row in rows[start - 1:]:
        new_hash = hashlib.sha256(prev + canonical(row)).digest()
        signature = hmac.new(hmac_key(keys[row["key_id"]]), new_hash, hashlib.sha256).digest()
        conn.execute(
            "update odl.audit_events set prev_hash = %s, hash = %s"
            + (", signature = %s" if resign else "")
            + " where tenant_id = %s and seq = %s",
            (prev, new_hash, *([signature] if resign else []), tenant_id, row["seq"]),
        )
        prev = new_hash
    conn.execute(
        "update odl.audit_heads set seq = %s, hash = %s where tenant_id = %s", (rows[-1]["seq"], prev, tenant_id)
    )
    return rows[-1]["seq"]


def _forge(conn, tenant_id: str, seq: int, prev: bytes, created_at, signed: bool) -> bytes:
    """Inserts a forged event chained onto prev; signed with the database's
    current key, or with a signature of zeros."""
    row = {
        "seq": seq, "created_at": created_at, "tenant_id": tenant_id, "event_id": "7" + "Z" * 25,
        "actor_id": None, "project_id": None, "doc_id": None, "action": "role.assigned",
        "payload": '{"role": "super_user"}',
    }
    forged = hashlib.sha256(prev + canonical(row)).digest()
    key_id, inner = conn.execute("select key_id, inner_key from odl.audit_keys where retired_at is null").fetchone()
    signature = hmac.new(hmac_key(inner), forged, hashlib.sha256).digest() if signed else bytes(32)
    conn.execute(
        "insert into odl.audit_events (tenant_id, seq, created_at, event_id, action, payload,"
        " prev_hash, hash, key_id, signature) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (tenant_id, seq, created_at, row["event_id"], row["action"], row["payload"], prev, forged, key_id,
         signature),
    )
    return forged


def plant_payload_change(conn, tenant_id):
    conn.execute(
        "update odl.audit_events set payload = '{\"i\": 999}' where tenant_id = %s and seq = 4", (tenant_id,)
    )
    return broken(4, "payload changed"), False


def plant_action_change(conn, tenant_id):
    conn.execute(
        "update odl.audit_events set action = 'test.other' where tenant_id = %s and seq = 6", (tenant_id,)
    )
    return broken(6, "payload changed"), False


def plant_middle_delete(conn, tenant_id):
    conn.execute("delete from odl.audit_events where tenant_id = %s and seq = 5", (tenant_id,))
    return broken(5, "event missing"), False


def plant_tail_delete(conn, tenant_id):
    conn.execute("delete from odl.audit_events where tenant_id = %s and seq >= 8", (tenant_id,))
    return broken(8, "event missing"), False


def plant_tail_delete_with_head(conn, tenant_id):
    """The head is rolled back too: only the trusted digest still knows."""
    conn.execute("delete from odl.audit_events where tenant_id = %s and seq >= 8", (tenant_id,))
    conn.execute(
        "update odl.audit_heads as h set seq = 7, hash = e.hash from odl.audit_events as e"
        " where h.tenant_id = %s and e.tenant_id = h.tenant_id and e.seq = 7",
        (tenant_id,),
    )
    return broken(8, "event missing"), True


def plant_forged_duplicate(conn, tenant_id):
    """A second event with seq 3, chained after seq 2 and signed with the key."""
    rows = export(conn, tenant_id)
    _forge(conn, tenant_id, 3, rows[1]["hash"], rows[2]["created_at"] + timedelta(microseconds=1), signed=True)
    return broken(3, "forged event"), False


def plant_forged_wedged_in(conn, tenant_id):
    """Seqs 3.. move up by one and a forged event takes seq 3."""
    rows = export(conn, tenant_id)
    conn.execute("update odl.audit_events set seq = seq + 1 where tenant_id = %s and seq >= 3", (tenant_id,))
    conn.execute("update odl.audit_heads set seq = seq + 1 where tenant_id = %s", (tenant_id,))
    created = rows[1]["created_at"] + timedelta(microseconds=1)
    _forge(conn, tenant_id, 3, rows[1]["hash"], created, signed=False)
    return broken(3, "forged event"), False


def plant_forged_tail(conn, tenant_id):
    """An event chained onto the head, the head moved along, without the key."""
    rows = export(conn, tenant_id)
    beyond = rows[-1]["seq"] + 1
    created = rows[-1]["created_at"] + timedelta(seconds=1)
    forged = _forge(conn, tenant_id, beyond, rows[-1]["hash"], created, signed=False)
    conn.execute("update odl.audit_heads set seq = %s, hash = %s where tenant_id = %s", (beyond, forged, tenant_id))
    return broken(beyond, "forged event"), False


def plant_forged_tail_head_untouched(conn, tenant_id):
    rows = export(conn, tenant_id)
    beyond = rows[-1]["seq"] + 1
    created = rows[-1]["created_at"] + timedelta(seconds=1)
    _forge(conn, tenant_id, beyond, rows[-1]["hash"], created, signed=False)
    return broken(beyond, "forged event"), False


def plant_swap(conn, tenant_id):
    conn.execute(
        "update odl.audit_events set seq = case seq when 4 then 7 else 4 end"
        " where tenant_id = %s and seq in (4, 7)",
        (tenant_id,),
    )
    return broken(4, "order changed"), False


def plant_swap_neighbours(conn, tenant_id):
    conn.execute(
        "update odl.audit_events set seq = case seq when 5 then 6 else 5 end"
        " where tenant_id = %s and seq in (5, 6)",
        (tenant_id,),
    )
    return broken(5, "order changed"), False


def plant_rehashed_event(conn, tenant_id):
    """One event changed and rehashed in place; its successor still points at the old hash."""
    conn.execute("update odl.audit_events set payload = '{\"i\": 0}' where tenant_id = %s and seq = 6", (tenant_id,))
    row = export(conn, tenant_id, 5, 1)[0]
    conn.execute(
        "update odl.audit_events set hash = %s where tenant_id = %s and seq = 6",
        (hashlib.sha256(row["prev_hash"] + canonical(row)).digest(), tenant_id),
    )
    return broken(6, "forged event"), False


def plant_consistent_rewrite(conn, tenant_id):
    """Event 6 changed, the chain rehashed from there, the head moved along."""
    conn.execute("update odl.audit_events set payload = '{\"i\": 0}' where tenant_id = %s and seq = 6", (tenant_id,))
    _rehash_from(conn, tenant_id, 6, resign=False)
    return broken(6, "head does not match the trusted digest"), True


def plant_consistent_rewrite_resigned(conn, tenant_id):
    """As above, re-signed with the database's key: the digest still tells,
    and with no trusted digest below it, every seq up to it is suspect, so
    it names seq 1 (test_ledger_tamper.py brackets the rewrite with two
    digests and gets the exact seq)."""
    conn.execute("update odl.audit_events set payload = '{\"i\": 0}' where tenant_id = %s and seq = 6", (tenant_id,))
    _rehash_from(conn, tenant_id, 6, resign=True)
    return broken(1, "head does not match the trusted digest"), True


def plant_whole_chain_rewrite(conn, tenant_id):
    conn.execute("update odl.audit_events set payload = '{}' where tenant_id = %s", (tenant_id,))
    _rehash_from(conn, tenant_id, 1, resign=True)
    return broken(1, "head does not match the trusted digest"), True


PLANTS = [
    plant_payload_change, plant_action_change, plant_middle_delete, plant_tail_delete,
    plant_tail_delete_with_head, plant_forged_duplicate, plant_forged_wedged_in, plant_forged_tail,
    plant_forged_tail_head_untouched, plant_swap, plant_swap_neighbours, plant_rehashed_event,
    plant_consistent_rewrite, plant_consistent_rewrite_resigned, plant_whole_chain_rewrite,
]


@pytest.mark.parametrize("plant", PLANTS, ids=[p.__name__.removeprefix("plant_") for p in PLANTS])
def test_verification_names_the_tampered_seq(conn, tenant, plant):
    tenant_id, user_id = tenant
    before = chain_length(conn, tenant_id)
    append(conn, tenant_id, user_id, N)
    digest = digest_of(conn, tenant_id)
    assert digest["seq"] == before + N
    assert outcome(verify(conn, tenant_id, digest))["ok"] is True

    conn.execute("set local session_replication_role = replica")
    expected, needs_digest = plant(conn, tenant_id)
    conn.execute("set local session_replication_role = origin")

    assert outcome(verify(conn, tenant_id, digest)) == expected
    without_digest = outcome(verify(conn, tenant_id))
    if needs_digest:
        # Consistent to the last byte inside the database (re-signed, or
        # signatures untouched): only the digest kept outside can tell.
        if plant in (plant_consistent_rewrite,):
            assert without_digest == broken(6, "forged event")
        else:
            assert without_digest == {"ok": True, "first_broken_seq": None, "reason": None}
    else:
        assert without_digest == expected


def test_digest_signed_by_no_key_of_the_database_is_reported(conn, tenant):
    tenant_id, user_id = tenant
    before = chain_length(conn, tenant_id)
    append(conn, tenant_id, user_id, 3)
    digest = digest_of(conn, tenant_id)
    assert digest["seq"] == before + 3
    forged = dict(digest, signature="0" * 64)
    assert outcome(verify(conn, tenant_id, forged)) == broken(before + 3, "head does not match the trusted digest")
    conn.execute("set local session_replication_role = replica")
    conn.execute("update odl.audit_keys set inner_key = %s", (bytes(64),))
    # With the key changed, every signature fails, the first event's first.
    assert outcome(verify(conn, tenant_id, digest)) == broken(1, "forged event")


def test_malformed_or_foreign_digest_is_refused(conn, tenant):
    tenant_id, user_id = tenant
    append(conn, tenant_id, user_id, 1)
    digest = digest_of(conn, tenant_id)
    # An array of digests is accepted (the sink's), but not one with a bad element.
    for bad in (
        dict(digest, tenant_id="0" * 26), dict(digest, seq="x"), dict(digest, hash="00"), [digest, {"seq": 1}], "x",
    ):
        with pytest.raises(psycopg.Error) as failure:
            with conn.transaction():
                verify(conn, tenant_id, bad)
        assert failure.value.sqlstate == "ODA02"


# -- Concurrency ---------------------------------------------------------------


def _writers(dbname: str, targets: list[tuple[str, str]], events: int) -> list[tuple[str, int]]:
    """One thread per target (tenant, user), each committing `events` appends
    in separate transactions; returns the (tenant, seq) of every commit."""
    committed: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def work(tenant_id: str, user_id: str) -> None:
        try:
            with psycopg.connect(server_conninfo(dbname=dbname, user="odl_app")) as conn:
                start.wait()
                for i in range(events):
                    with conn.transaction():
                        conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
                        seq = conn.execute(
                            "select odl.odl_audit_log('write', %s)", (Jsonb({"i": i}),)
                        ).fetchone()[0]
                    committed.append((tenant_id, seq))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return committed


def _new_tenant(conn) -> tuple[str, str]:
    conn.execute("set role odl_admin")
    tenant_id = conn.execute(
        "select odl.odl_create_tenant(%s, 'US')", (f"t-{uuid.uuid4().hex[:6]}",)
    ).fetchone()[0]
    user_id = conn.execute(
        "select odl.odl_create_user(%s, %s, 'engineer')", (tenant_id, f"{uuid.uuid4().hex[:6]}@example.com")
    ).fetchone()[0]
    conn.execute("reset role")
    return tenant_id, user_id


def test_eight_writers_on_one_tenant_leave_a_gapless_chain(dbname, connect):
    admin = connect(autocommit=True)
    tenant_id, user_id = _new_tenant(admin)
    before = chain_length(admin, tenant_id)
    committed = _writers(dbname, [(tenant_id, user_id)] * 8, 25)
    assert sorted(seq for _, seq in committed) == list(range(before + 1, before + 201))
    rows = export(admin, tenant_id)
    assert len(rows) == before + 200
    recompute(rows)
    times = [row["created_at"] for row in rows]
    assert times == sorted(times), "created_at runs backwards in the chain"
    assert outcome(verify(admin, tenant_id)) == {"ok": True, "first_broken_seq": None, "reason": None}


def test_eight_writers_on_eight_tenants_each_leave_a_gapless_chain(dbname, connect):
    admin = connect(autocommit=True)
    targets = [_new_tenant(admin) for _ in range(8)]
    before = {tenant_id: chain_length(admin, tenant_id) for tenant_id, _ in targets}
    committed = _writers(dbname, targets, 25)
    for tenant_id, _ in targets:
        start = before[tenant_id]
        assert sorted(seq for t, seq in committed if t == tenant_id) == list(range(start + 1, start + 26))
        assert verify(admin, tenant_id) == {
            "ok": True, "checked": start + 25, "first_broken_seq": None, "reason": None,
        }


def test_writers_wait_only_for_their_own_tenant(dbname, connect):
    admin = connect(autocommit=True)
    (tenant_a, user_a), (tenant_b, user_b) = _new_tenant(admin), _new_tenant(admin)
    before_a, before_b = chain_length(admin, tenant_a), chain_length(admin, tenant_b)
    holder, same, other = (connect(user="odl_app") for _ in range(3))
    holder.execute("select odl.odl_set_context(%s, %s)", (tenant_a, user_a))
    holder.execute("select odl.odl_audit_log('hold', '{}')")  # holds tenant A's head, uncommitted

    other.execute("set lock_timeout = '2s'")
    other.execute("select odl.odl_set_context(%s, %s)", (tenant_b, user_b))
    assert other.execute("select odl.odl_audit_log('other', '{}')").fetchone()[0] == before_b + 1
    other.commit()

    same.execute("set lock_timeout = '200ms'")
    same.execute("select odl.odl_set_context(%s, %s)", (tenant_a, user_a))
    with pytest.raises(psycopg.errors.LockNotAvailable):
        same.execute("select odl.odl_audit_log('blocked', '{}')")
    same.rollback()

    holder.commit()
    same.execute("select odl.odl_set_context(%s, %s)", (tenant_a, user_a))
    assert same.execute("select odl.odl_audit_log('after', '{}')").fetchone()[0] == before_a + 2
    same.commit()


# -- Crash ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
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


def test_crash_mid_load_loses_no_committed_event():
    work = Path(tempfile.mkdtemp(prefix="odl-audit-crash-", dir="/tmp"))
    os.chmod(work, 0o755)
    data = work / "data"
    port = _free_port()
    env = dict(
        os.environ, PGHOST="127.0.0.1", PGPORT=str(port), PGUSER="postgres", PGDATABASE="crash", PGCLUSTER_FAST="1"
    )
    cluster = [str(TOP / "scripts" / "pgcluster")]
    run = lambda *args: subprocess.run(args, env=env, check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run(*cluster, "start", str(data), str(port))
        run("createdb", "crash")
        subprocess.run(["sqitch", "deploy", "db:pg:"], cwd=TOP, env=env, check=True, capture_output=True)
        info = f"host=127.0.0.1 port={port} dbname=crash"
        with psycopg.connect(info + " user=postgres", autocommit=True) as admin:
            targets = [_new_tenant(admin) for _ in range(2)]

        committed: list[tuple[str, int]] = []
        stop = threading.Event()

        def load(tenant_id: str, user_id: str) -> None:
            try:
                with psycopg.connect(info + " user=odl_app") as conn:
                    # Durable commits: the throwaway cluster turns them off.
                    conn.execute("set synchronous_commit = on")
                    conn.commit()
                    while not stop.is_set():
                        with conn.transaction():
                            conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
                            seq = conn.execute("select odl.odl_audit_log('load', '{\"x\": 1}')").fetchone()[0]
                        committed.append((tenant_id, seq))  # only once the commit returned
            except psycopg.Error:
                pass  # the server died under us

        threads = [threading.Thread(target=load, args=t) for t in targets for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        children = _children(postmaster)
        os.kill(postmaster, signal.SIGKILL)
        for child in children:  # as an OS crash would: nothing survives
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{postmaster}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # until it is reaped, pg_ctl takes the zombie for a running server
        assert len(committed) > 20, "the load did not get going before the crash"

        run(*cluster, "start", str(data), str(port))
        with psycopg.connect(info + " user=postgres", autocommit=True) as admin:
            for tenant_id, _ in targets:
                rows = export(admin, tenant_id)
                recompute(rows)  # no half-written event, no gap
                seqs = {r["seq"] for r in rows}
                assert {seq for t, seq in committed if t == tenant_id} <= seqs
                assert verify(admin, tenant_id)["ok"] is True
                head = admin.execute("select seq from odl.audit_heads where tenant_id = %s", (tenant_id,)).fetchone()
                assert head[0] == len(rows)
    finally:
        subprocess.run([*cluster, "stop", str(data)], env=env, capture_output=True)
        subprocess.run(["rm", "-rf", str(work)])
