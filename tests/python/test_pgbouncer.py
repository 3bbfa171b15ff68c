"""Through a real pgbouncer (Debian's package) in transaction mode: many
clients share two server connections, each transaction sets its context
with the Python client and acts as exactly its user, nothing of a context
reaches the next transaction on the same server connection, no prepared
statement goes astray, and a context written by hand into a server
connection's session (which transaction pooling hands to other clients) is
no context. The module runs in both context modes (conftest's --token-mode):
in token mode each client's contexts carry its user's token through the
pooler."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from conftest import TenantAccess, server_conninfo
from odl_client import OdlConnection

SERVER_CONNECTIONS = 2
CLIENTS = 8
TRANSACTIONS_PER_CLIENT = 12

pytestmark = pytest.mark.runs_in_token_mode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_login(dbname):
    """An application's login, as the README makes one."""
    login = f"bouncer_app_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        su.execute(sql.SQL("create role {} login in role odl_app").format(sql.Identifier(login)))
    yield login
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        su.execute(sql.SQL("drop role {}").format(sql.Identifier(login)))


@pytest.fixture(scope="module")
def pgbouncer(dbname, app_login):
    """pgbouncer on a free port, pool_mode = transaction with two server
    connections, in front of the test database; its own ini file in a temp
    dir, run as the postgres OS user when we are root (pgbouncer refuses
    root). Yields the conninfo of the pooled database."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        pytest.fail("pgbouncer is not installed: run scripts/install-deps", pytrace=False)
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        host, port = conn.info.host, conn.info.port
    workdir = Path(tempfile.mkdtemp(prefix="odl-pgbouncer-"))
    workdir.chmod(0o755)
    listen = free_port()
    (workdir / "userlist.txt").write_text(f'"{app_login}" ""\n"postgres" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"odl = host={host} port={port} dbname={dbname}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {listen}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {workdir / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {SERVER_CONNECTIONS}\n"
        "reserve_pool_size = 0\n"
        "max_client_conn = 100\n"
        f"logfile = {workdir / 'pgbouncer.log'}\n"
        f"pidfile = {workdir / 'pgbouncer.pid'}\n"
    )
    command = [binary, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(workdir, postgres.pw_uid, postgres.pw_gid)
        for child in workdir.iterdir():
            os.chown(child, postgres.pw_uid, postgres.pw_gid)
        command = ["runuser", "-u", "postgres", "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    conninfo = psycopg.conninfo.make_conninfo(host="127.0.0.1", port=str(listen), dbname="odl", user=app_login)
    try:
        for _ in range(100):
            if process.poll() is not None:
                pytest.fail(f"pgbouncer exited: {process.stderr.read()}"
                            f"{(workdir / 'pgbouncer.log').read_text(errors='replace')}")
            try:
                psycopg.connect(conninfo, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                time.sleep(0.1)
        else:
            pytest.fail("pgbouncer did not accept connections within 10 s")
        yield conninfo
    finally:
        pidfile = workdir / "pgbouncer.pid"
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), 15)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


DOCUMENT = {
    "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
    "schema_version": "4.1",
    "meta": {"project": "pooled", "domain": "PV", "scale": "UTILITY"},
    "hierarchy": {"id": "PF-1", "type": "PORTFOLIO", "name": "pooled", "children": []},
    "instances": [],
}


class PooledTenant:
    """A tenant whose users may each write a document of their own."""

    def __init__(self, dbname: str, users: int):
        with psycopg.connect(server_conninfo(dbname=dbname)) as admin:
            admin.execute("set role odl_admin")
            tenant_id = admin.execute(
                "select odl.odl_create_tenant(%s, 'EU')", (f"pool-{uuid.uuid4().hex[:6]}",)
            ).fetchone()[0]
            first = admin.execute(
                "select odl.odl_create_user(%s, %s, 'engineer')", (tenant_id, f"{uuid.uuid4().hex[:6]}@example.com")
            ).fetchone()[0]
        self.access = TenantAccess(dbname, (tenant_id, first))
        self.tenant_id = tenant_id
        self.access.assign("super_user", self.access.admin_id)
        with self.access.session(self.access.admin_id) as conn:
            self.project_id = conn.execute("select odl.odl_create_project('pooled')").fetchone()[0]
        self.access.attach(self.project_id)
        self.documents: dict[str, str] = {}
        for _ in range(users):
            user_id = self.access.create_user("super_user")
            self.access.assign("super_user", user_id)
            with self.access.session(user_id) as conn:
                self.documents[user_id] = conn.execute(
                    "select odl.odl_create_document(%s, %s)", (self.project_id, Jsonb(DOCUMENT))
                ).fetchone()[0]


@pytest.fixture(scope="module")
def tenants(dbname):
    return [PooledTenant(dbname, CLIENTS // 2) for _ in range(2)]


def no_context_outside_a_transaction(conn: psycopg.Connection) -> None:
    """A statement of its own lands on any server connection of the pool."""
    row = conn.execute("select odl.odl_current_tenant_id(), odl.odl_current_user_id()").fetchone()
    assert row == (None, None)


def pooled_workload(pgbouncer: str, tenants: list[PooledTenant], transaction_pooling: bool, tokens):
    """Every user's client runs its transactions at once; returns the users
    each server connection acted for, and the clients' failures."""
    clients = [(t, user_id) for t in tenants for user_id in t.documents]
    served = defaultdict(set)          # server pid -> users it acted for
    failures: list[BaseException] = []
    start = threading.Barrier(len(clients))

    def client(tenant: PooledTenant, user_id: str) -> None:
        doc_id = tenant.documents[user_id]
        others = {d for t in tenants for d in t.documents.values()} - set(tenant.documents.values())
        try:
            with OdlConnection.connect(pgbouncer, transaction_pooling=transaction_pooling, tokens=tokens) as conn:
                start.wait()
                for n in range(TRANSACTIONS_PER_CLIENT):
                    with conn.transaction(tenant.tenant_id, user_id) as odl:
                        pid, who, where = conn.connection.execute(
                            "select pg_backend_pid(), odl.odl_current_user_id(), odl.odl_current_tenant_id()"
                        ).fetchone()
                        assert (who, where) == (user_id, tenant.tenant_id)
                        heads = {h.doc_id: h.version for h in odl.heads()}
                        assert set(heads) == set(tenant.documents.values())
                        assert not others & set(heads)
                        result = odl.apply_patch(
                            doc_id, [{"op": "replace", "path": "/meta/project", "value": f"{user_id} {n}"}],
                            heads[doc_id], intent=f"pooled write {n}",
                        )
                        assert result.version == heads[doc_id] + 1
                        served[pid].add(user_id)
                    no_context_outside_a_transaction(conn.connection)
                with conn.transaction(tenant.tenant_id, user_id) as odl:
                    history = odl.history(doc_id)
                    assert [h.version for h in history] == list(range(1, len(history) + 1))
                    assert history[-1].intent == f"pooled write {TRANSACTIONS_PER_CLIENT - 1}"
                    assert {h.created_by for h in history} == {user_id}
                    assert odl.get_document(doc_id).document["meta"]["project"] == (
                        f"{user_id} {TRANSACTIONS_PER_CLIENT - 1}"
                    )
        except BaseException as error:  # noqa: BLE001 - reported below, per client
            failures.append(error)

    threads = [threading.Thread(target=client, args=c) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return served, failures


def test_pooled_transactions_act_as_exactly_their_user(pgbouncer, tenants, login_tokens):
    served, failures = pooled_workload(pgbouncer, tenants, transaction_pooling=True, tokens=login_tokens)
    assert not failures, failures
    # Eight clients, two server connections: each served several users.
    assert 1 <= len(served) <= SERVER_CONNECTIONS
    assert sum(len(users) for users in served.values()) >= CLIENTS
    assert max(len(users) for users in served.values()) >= 2


def test_a_context_written_into_a_pooled_session_is_no_context(pgbouncer, tenants, login_tokens):
    victim, intruder = tenants
    intruder_id = next(iter(intruder.documents))
    victim_id, victim_doc = next(iter(victim.documents.items()))
    # The intruder takes a signed context of its own and writes it into the
    # session of both server connections, where it outlives the transaction.
    holders = [OdlConnection.connect(pgbouncer, transaction_pooling=True, tokens=login_tokens)
               for _ in range(SERVER_CONNECTIONS)]
    written = set()
    try:
        sessions = [holder.transaction(intruder.tenant_id, intruder_id) for holder in holders]
        for holder, session in zip(holders, sessions):
            session.__enter__()
            signed = holder.connection.execute("select current_setting('odl.context')").fetchone()[0]
            holder.connection.execute("select set_config('odl.context', %s, false)", (signed,))
            written.add(holder.connection.execute("select pg_backend_pid()").fetchone()[0])
        assert len(written) == SERVER_CONNECTIONS, "both server connections were held at once"
        for session in sessions:
            session.__exit__(None, None, None)
    finally:
        for holder in holders:
            holder.close()

    with psycopg.connect(pgbouncer, prepare_threshold=None) as other:
        for _ in range(2 * SERVER_CONNECTIONS):
            # The raw setting is there, on every server connection ...
            left = other.execute("select current_setting('odl.context', true)").fetchone()[0]
            assert left.startswith(f"{intruder.tenant_id}/{intruder_id}/")
            # ... and is no context: no rows, no reads, no writes.
            assert other.execute("select count(*) from odl.current_context").fetchone()[0] == 0
            assert other.execute("select count(*) from odl.projects").fetchone()[0] == 0
            with pytest.raises(psycopg.Error) as refused:
                other.execute("select odl.odl_get_document(%s)", (victim_doc,))
            assert refused.value.sqlstate == "ODC01"
            other.rollback()
    # A client that sets its own context acts as itself on that connection.
    with OdlConnection.connect(pgbouncer, transaction_pooling=True, tokens=login_tokens) as conn:
        for _ in range(2 * SERVER_CONNECTIONS):
            with conn.transaction(victim.tenant_id, victim_id) as odl:
                assert odl.get_document(victim_doc).document["$schema"] == DOCUMENT["$schema"]
                assert conn.connection.execute("select odl.odl_current_user_id()").fetchone()[0] == victim_id
            no_context_outside_a_transaction(conn.connection)


def test_without_transaction_pooling_prepared_statements_collide(pgbouncer, tenants, login_tokens):
    """Why the client needs transaction_pooling=True behind pgbouncer 1.18:
    psycopg prepares a statement run five times, under one name per client
    connection, on whichever server connection it lands on."""
    _, failures = pooled_workload(pgbouncer, tenants, transaction_pooling=False, tokens=login_tokens)
    sqlstates = {getattr(failure, "sqlstate", None) for failure in failures}
    assert sqlstates & {"42P05", "26000"}, failures
