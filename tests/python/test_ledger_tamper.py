"""odl_owner against the audit ledger. odl_owner runs every definer function
of the document API, so whoever subverts that code is odl_owner. Here it
tries to forge (insert an event, move a head, read or use the key, become
the signer), to erase (drop or detach a partition, delete a head, truncate)
and to rewrite (update a payload by every route it has). Each attempt is
refused, or found by verification against the digests exported to a file
sink, at the right seq.

Each case fails on v0.1.0 (`git show v0.1.0:deploy/audit.sql`,
`v0.1.0:sql/050_audit/`): there odl_owner owned the events, the heads and the
keys, held INSERT on the events and UPDATE on the heads, could grant itself
the rest and switch the triggers off as the tables' owner, and read the key
it needed to sign what it wrote; verification took one digest and blamed a
rewrite on the digest's seq, and reported {"ok": true, "checked": 0} for a
tenant whose partition and head were dropped.

The attacks run on a superuser connection with `set local role odl_owner`
and are rolled back; SET ROLE, which PostgreSQL checks against the
session's user, is tried from a login that is a member of odl_owner."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import uuid

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.types.json import Jsonb

from conftest import TOP, server_conninfo
from test_audit import GENESIS, canonical, export, hmac_key

EVENTS = 6


def app_log(dbname: str, tenant_id: str, user_id: str, count: int) -> None:
    """count committed events, logged by odl_app as the tenant's user."""
    with psycopg.connect(server_conninfo(dbname=dbname, user="odl_app")) as app:
        for i in range(count):
            app.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
            app.execute("select odl.odl_audit_log('tool_call', %s)", (Jsonb({"i": i}),))
            app.commit()


def export_digests(dbname: str, sink) -> None:
    """scripts/export-digests export, as the scheduled job runs it."""
    env = dict(os.environ, PGDATABASE=dbname, PGUSER="postgres")
    result = subprocess.run(
        [str(TOP / "scripts" / "export-digests"), "export", "--sink", str(sink)],
        env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr


def sink_digests(sink, tenant_id: str) -> list[dict]:
    return [d for d in map(json.loads, sink.read_text().splitlines()) if d["tenant_id"] == tenant_id]


def verify(conn: psycopg.Connection, tenant_id: str, digests=None) -> dict:
    """odl_audit_verify() as odl_admin, in the connection's transaction."""
    conn.execute("set local role odl_admin")
    result = conn.execute(
        "select odl.odl_audit_verify(%s, %s)", (tenant_id, Jsonb(digests) if digests is not None else None)
    ).fetchone()[0]
    conn.execute("reset role")
    return {k: result[k] for k in ("ok", "first_broken_seq", "reason")}


@pytest.fixture
def chain(dbname, tenant, tmp_path):
    """The tenant's committed chain of its creation events and EVENTS more,
    its digest exported to a file sink: (tenant_id, user_id, head seq, sink)."""
    tenant_id, user_id = tenant
    app_log(dbname, tenant_id, user_id, EVENTS)
    sink = tmp_path / "digests.jsonl"
    export_digests(dbname, sink)
    (head,) = [d["seq"] for d in sink_digests(sink, tenant_id)]
    return tenant_id, user_id, head, sink


def as_owner(conn: psycopg.Connection, tenant_id: str, user_id: str) -> None:
    conn.execute("set local role odl_owner")
    conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))


def refused(conn: psycopg.Connection, statement: str, params=None, sqlstate: str = "42501") -> str:
    """Runs statement in a savepoint and returns the error's message, which
    must carry sqlstate."""
    with pytest.raises(psycopg.Error) as failure:
        with conn.transaction():
            conn.execute(statement, params)
    assert failure.value.sqlstate == sqlstate, failure.value
    return str(failure.value)


# Forge.


def test_owner_cannot_insert_a_correctly_chained_event(conn, chain):
    tenant_id, user_id, head, _ = chain
    last = conn.execute(
        "select hash, created_at from odl.audit_events where tenant_id = %s and seq = %s", (tenant_id, head)
    ).fetchone()
    as_owner(conn, tenant_id, user_id)
    refused(
        conn,
        "insert into odl.audit_events (tenant_id, seq, created_at, event_id, action, payload, prev_hash, hash,"
        " key_id, signature) values (%s, %s, %s, %s, 'role.assigned', '{}', %s, %s, 1, %s)",
        (tenant_id, head + 1, last[1], "7" + "Z" * 25, last[0], bytes(32), bytes(32)),
    )
    refused(conn, "update odl.audit_heads set seq = seq + 1 where tenant_id = %s", (tenant_id,))
    conn.execute("reset role")
    assert verify(conn, tenant_id, sink_digests(chain[3], tenant_id))["ok"] is True


def test_owner_can_neither_read_the_key_nor_sign(conn, chain):
    tenant_id, user_id, _, _ = chain
    as_owner(conn, tenant_id, user_id)
    refused(conn, "select inner_key from odl.audit_keys")
    refused(conn, "select odl.audit_hmac(1, '\\x00')")
    refused(conn, "select * from odl.audit_sign('\\x00')")
    # Owner of schema odl, it may not give itself the key either.
    refused(conn, "grant select on odl.audit_keys to odl_owner")
    refused(conn, "alter table odl.audit_keys owner to odl_owner")


def test_a_login_in_odl_owner_cannot_become_the_signer_or_the_ledger(dbname, connect):
    name = f"dba_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login in role odl_owner").format(sql.Identifier(name)))
    try:
        login = connect(user=name)
        for role in ("odl_signer", "odl_ledger"):
            with pytest.raises(errors.InsufficientPrivilege):
                with login.transaction():
                    login.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        with pytest.raises(errors.InsufficientPrivilege):
            login.execute("select inner_key from odl.audit_keys")
        login.close()
    finally:
        with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as admin:
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def test_owner_appends_only_through_the_append_path_which_numbers_and_signs(conn, chain):
    """odl_owner is the API: it may add events, as the document functions
    do, but the ledger numbers, chains and signs them, so they extend the
    chain and verification holds against the earlier digest."""
    tenant_id, user_id, head, sink = chain
    assert conn.execute(
        "select proowner::regrole::text, prosecdef from pg_proc"
        " where oid = 'odl.audit_write(text, text, text, jsonb, text, text)'::regprocedure"
    ).fetchone() == ("odl_ledger", True)
    as_owner(conn, tenant_id, user_id)
    seq = conn.execute(
        "select odl.audit_write(%s, null, 'role.assigned', '{\"role\": \"super_user\"}', null, null)", (tenant_id,)
    ).fetchone()[0]
    assert seq == head + 1
    conn.execute("reset role")
    assert verify(conn, tenant_id, sink_digests(sink, tenant_id)) == {
        "ok": True, "first_broken_seq": None, "reason": None,
    }


# Erase.


def test_owner_cannot_drop_or_detach_a_partition(conn, chain):
    tenant_id, user_id, _, _ = chain
    partition = conn.execute(
        "select tableoid::regclass::text from odl.audit_events where tenant_id = %s and seq = 1", (tenant_id,)
    ).fetchone()[0]
    as_owner(conn, tenant_id, user_id)
    message = refused(conn, f"drop table {partition}")
    assert "the audit ledger may be changed only by a superuser" in message
    refused(conn, f"alter table odl.audit_events detach partition {partition}")
    refused(conn, "drop table odl.audit_heads cascade")
    refused(conn, "drop schema odl cascade")


def test_owner_cannot_delete_a_head_or_truncate_even_after_granting_itself(conn, chain):
    tenant_id, user_id, _, _ = chain
    as_owner(conn, tenant_id, user_id)
    with conn.transaction():
        conn.execute("grant delete, truncate on odl.audit_heads, odl.audit_events to odl_owner")  # nothing granted
    refused(conn, "delete from odl.audit_heads where tenant_id = %s", (tenant_id,))
    refused(conn, "alter table odl.audit_events disable trigger user")
    refused(conn, "truncate odl.audit_events")
    refused(conn, "delete from odl.audit_events where tenant_id = %s", (tenant_id,))


def test_a_dropped_partition_and_head_are_found(conn, chain):
    """Only a superuser can still erase; verification then names the first
    seq that was in the partition, with or without the exported digest."""
    tenant_id, _, head, sink = chain
    partition = conn.execute(
        "select tableoid::regclass::text from odl.audit_events where tenant_id = %s and seq = 1", (tenant_id,)
    ).fetchone()[0]
    conn.execute(f"alter table odl.audit_events detach partition {partition}")
    conn.execute(f"drop table {partition}")
    conn.execute("delete from odl.audit_heads where tenant_id = %s", (tenant_id,))
    broken = {"ok": False, "first_broken_seq": 1, "reason": "partition missing"}
    assert verify(conn, tenant_id) == broken
    assert verify(conn, tenant_id, sink_digests(sink, tenant_id)) == broken


def test_a_deleted_head_is_found(conn, chain):
    tenant_id, _, head, sink = chain
    conn.execute("delete from odl.audit_heads where tenant_id = %s", (tenant_id,))
    assert verify(conn, tenant_id) == {"ok": False, "first_broken_seq": head + 1, "reason": "head missing"}


def test_a_shorter_chain_than_the_exported_digest_is_found(conn, chain):
    tenant_id, _, head, sink = chain
    conn.execute("set local session_replication_role = replica")
    conn.execute("delete from odl.audit_events where tenant_id = %s and seq > %s", (tenant_id, head - 2))
    conn.execute(
        "update odl.audit_heads set seq = e.seq, hash = e.hash from odl.audit_events as e"
        " where audit_heads.tenant_id = %s and e.tenant_id = audit_heads.tenant_id and e.seq = %s",
        (tenant_id, head - 2),
    )
    conn.execute("set local session_replication_role = origin")
    assert verify(conn, tenant_id) == {"ok": False, "first_broken_seq": head - 1, "reason": "event missing"}


# Rewrite.


def test_owner_has_no_route_to_rewrite_a_payload(conn, chain):
    tenant_id, user_id, _, _ = chain
    as_owner(conn, tenant_id, user_id)
    refused(conn, "update odl.audit_events set payload = '{}' where tenant_id = %s", (tenant_id,))
    refused(conn, "alter table odl.audit_events disable trigger all")
    # Replacing the ledger's functions, or dropping them to put its own in place.
    refused(
        conn,
        "create or replace function odl.audit_write(text, text, text, jsonb, text, text) returns bigint"
        " language sql as 'select 0::bigint'",
    )
    refused(conn, "drop function odl.audit_verify_chain(text, jsonb)")
    refused(conn, "alter function odl.audit_verify_chain(text, jsonb) security invoker")
    # The checks of a domain that the ledger's columns use run as odl_ledger:
    # odl_owner, the domain's owner, may not change it.
    message = refused(conn, "alter domain odl.ulid drop constraint ulid_format")
    assert "the audit ledger may be changed only by a superuser" in message


def _rewrite_resigned(conn, tenant_id: str, seq: int) -> None:
    """A superuser's rewrite of the payload at seq, rehashed and re-signed
    with the key: consistent to the last byte inside the database."""
    conn.execute("set local session_replication_role = replica")
    conn.execute(
        "update odl.audit_events set payload = '{\"i\": 99}' where tenant_id = %s and seq = %s", (tenant_id, seq)
    )
    rows = export(conn, tenant_id)
    keys = dict(conn.execute("select key_id, inner_key from odl.audit_keys").fetchall())
    prev = rows[seq - 2]["hash"] if seq > 1 else GENESIS
    for row in rows[seq - 1:]:
        new_hash = hashlib.sha256(prev + canonical(row)).digest()
        signature = hmac.new(hmac_key(keys[row["key_id"]]), new_hash, hashlib.sha256).digest()
        conn.execute(
            "update odl.audit_events set prev_hash = %s, hash = %s, signature = %s where tenant_id = %s and seq = %s",
            (prev, new_hash, signature, tenant_id, row["seq"]),
        )
        prev = new_hash
    conn.execute("update odl.audit_heads set hash = %s where tenant_id = %s", (prev, tenant_id))
    conn.execute("set local session_replication_role = origin")


def test_a_resigned_rewrite_is_named_at_the_first_rewritten_seq(dbname, conn, tenant, tmp_path):
    """Exported after every append, the digests bracket each event: the
    rewrite is named at its own seq, not at the latest digest's."""
    tenant_id, user_id = tenant
    sink = tmp_path / "digests.jsonl"
    for _ in range(EVENTS):
        app_log(dbname, tenant_id, user_id, 1)
        export_digests(dbname, sink)
    digests = sink_digests(sink, tenant_id)
    head = digests[-1]["seq"]
    target = head - 3
    _rewrite_resigned(conn, tenant_id, target)
    assert verify(conn, tenant_id) == {"ok": False, "first_broken_seq": target, "reason": (
        "head does not match the trusted digest"
    )}, "the latest digest the ledger issued is checked without being handed in"
    assert verify(conn, tenant_id, digests) == {
        "ok": False, "first_broken_seq": target, "reason": "head does not match the trusted digest",
    }


def test_the_export_job_finds_a_committed_rewrite(dbname, tenant, tmp_path):
    """End to end: the scheduled job's file sink, then verify from it."""
    tenant_id, user_id = tenant
    sink = tmp_path / "digests.jsonl"
    app_log(dbname, tenant_id, user_id, 3)
    export_digests(dbname, sink)
    app_log(dbname, tenant_id, user_id, 3)
    export_digests(dbname, sink)
    mine = tmp_path / "mine.jsonl"
    mine.write_text("".join(json.dumps(d) + "\n" for d in sink_digests(sink, tenant_id)))
    env = dict(os.environ, PGDATABASE=dbname, PGUSER="postgres")
    command = [str(TOP / "scripts" / "export-digests"), "verify", "--sink", str(mine)]
    clean = subprocess.run(command, env=env, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    first_after = sink_digests(sink, tenant_id)[0]["seq"] + 1
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        _rewrite_resigned(su, tenant_id, first_after)
    found = subprocess.run(command, env=env, capture_output=True, text=True)
    assert found.returncode == 1, found.stdout + found.stderr
    (line,) = found.stdout.splitlines()
    result = json.loads(line)
    assert (result["ok"], result["first_broken_seq"], result["reason"]) == (
        False, first_after, "head does not match the trusted digest",
    )
