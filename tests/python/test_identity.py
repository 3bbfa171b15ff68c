"""Identity nobody can borrow.

A person's login, bound by the tenant's administrator, acts only as its
user; an unbound login that is not an application gets no context; in token
mode an application needs a token from the login service for every context
it sets. The context is a signed, transaction-local setting: it works in
read-only transactions and on a hot standby, and a context written by hand
is no context at all."""

from __future__ import annotations

import socket
from contextlib import contextmanager
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from conftest import TOP, TenantAccess, login_service, server_conninfo, switch_token_mode
from odl_client import ContextError, OdlAuth, OdlPool

sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

DOC = odlsd.generate(10_000, seed=5)


@contextmanager
def refused(sqlstate: str):
    """The block must fail with this SQLSTATE."""
    with pytest.raises(psycopg.Error) as caught:
        yield caught
    assert caught.value.sqlstate == sqlstate, f"{caught.value.sqlstate}: {caught.value}"


class People:
    """A tenant with its administrator, a guest, a document and a person's
    login role bound to the guest."""

    def __init__(self, dbname: str, access: TenantAccess):
        self.dbname = dbname
        self.access = access
        self.tenant_id = access.tenant_id
        self.admin_id = access.admin_id
        access.assign("super_user", self.admin_id)
        self.guest_id = access.create_user("guest")
        access.assign("guest", self.guest_id)
        with access.session(self.admin_id) as conn:
            self.project_id = conn.execute("select odl.odl_create_project('identity')").fetchone()[0]
        access.attach(self.project_id)
        with access.session(self.admin_id) as conn:
            self.doc_id = conn.execute(
                "select odl.odl_create_document(%s, %s)", (self.project_id, Jsonb(DOC))
            ).fetchone()[0]
        self.login = f"analyst_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
            su.execute(sql.SQL("create role {} login in role odl_analyst").format(sql.Identifier(self.login)))

    def bind(self, user_id: str) -> None:
        with self.access.session(self.admin_id) as conn:
            conn.execute("select odl.odl_bind_login(%s, %s)", (self.login, user_id))

    def analyst(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(server_conninfo(dbname=self.dbname, user=self.login), **kwargs)

    def drop(self) -> None:
        with psycopg.connect(server_conninfo(dbname=self.dbname), autocommit=True) as su:
            su.execute("delete from odl.login_bindings where login = %s", (self.login,))
            su.execute(sql.SQL("drop role {}").format(sql.Identifier(self.login)))


@pytest.fixture
def people(dbname, access):
    crowd = People(dbname, access)
    yield crowd
    crowd.drop()


def app_reads(conn: psycopg.Connection, people: People) -> tuple:
    """What an application reads for its user: the document, redacted."""
    return conn.execute("select document::text, redacted from odl.odl_get_document(%s)", (people.doc_id,)).fetchone()


def analyst_reads(conn: psycopg.Connection, people: People) -> tuple:
    """What an analyst reads for its user: the same, through the view."""
    return conn.execute(
        "select document::text, redacted from odl.readable_documents where doc_id = %s", (people.doc_id,)
    ).fetchone()


def test_an_unbound_analyst_login_gets_no_context(people):
    with people.analyst() as conn:
        with refused("ODC06") as caught:
            conn.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.guest_id))
        assert people.login in str(caught.value)


def test_a_bound_login_acts_only_as_its_user(people):
    with people.analyst() as conn:
        assert conn.execute("select * from odl.odl_my_binding()").fetchone() == (None, None)
    people.bind(people.guest_id)
    with people.analyst() as conn:
        assert conn.execute("select * from odl.odl_my_binding()").fetchone() == (people.tenant_id, people.guest_id)
        conn.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.guest_id))
        assert conn.execute("select odl.odl_current_user_id()").fetchone()[0] == people.guest_id
        conn.commit()
        with refused("ODC05"):
            conn.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.admin_id))


def test_a_bound_guest_reads_by_no_route_more_than_a_guest(people):
    people.bind(people.guest_id)
    with people.access.session(people.guest_id) as app:
        as_guest = app_reads(app, people)
    assert as_guest[1], "the guest's read must be redacted for the test to mean anything"
    with people.analyst() as conn:
        conn.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.guest_id))
        assert analyst_reads(conn, people) == as_guest
        conn.commit()
        for table in ("users", "tenants", "projects", "nodes", "rbac_assignments", "approvals", "audit_events",
                      "odl_documents", "odl_document_versions", "odl_patches", "identity_keys", "login_bindings"):
            with refused("42501"):
                conn.execute(sql.SQL("select * from odl.{}").format(sql.Identifier(table)))
            conn.rollback()
        for forbidden in (
            "select odl.set_session_context(%s, %s)",
            "select odl.identity_mac('context', %s || %s)",
        ):
            with refused("42501"):
                conn.execute(forbidden, (people.tenant_id, people.admin_id))
            conn.rollback()


def test_a_context_written_by_hand_is_no_context(people):
    with people.access.session(people.admin_id) as app:
        signed = app.execute("select current_setting('odl.context')").fetchone()[0]
        app.rollback()
        # The same words in a new transaction, and a made-up signature.
        for forged in (signed, f"{people.tenant_id}/{people.admin_id}/{'0' * 64}"):
            app.execute("select set_config('odl.context', %s, true)", (forged,))
            assert app.execute("select count(*) from odl.current_context").fetchone()[0] == 0
            assert app.execute("select count(*) from odl.projects").fetchone()[0] == 0
            with refused("ODC01"):
                app.execute("select odl.odl_get_document(%s)", (people.doc_id,))
            app.rollback()


def test_reads_work_in_read_only_transactions(people):
    with people.access.session(people.guest_id) as app:
        expected = app_reads(app, people)
        app.rollback()
        app.execute("begin read only")
        app.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.guest_id))
        assert app_reads(app, people) == expected
        app.rollback()


@contextmanager
def token_mode(dbname: str, on: bool = True):
    """Token mode on (or off: a DBA's switch) for the block, as it was after it."""
    was = login_service(dbname).on
    switch_token_mode(dbname, on)
    try:
        yield
    finally:
        switch_token_mode(dbname, was)


def issue_token(dbname: str, tenant_id: str, user_id: str, ttl: int = 300) -> str:
    """The login service (odl_auth) issues a token after its own login check."""
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as service:
        service.execute("set role odl_auth")
        return service.execute(
            "select odl.odl_issue_context_token(%s, %s, %s)", (tenant_id, user_id, ttl)
        ).fetchone()[0]


def app_connection(dbname: str) -> psycopg.Connection:
    return psycopg.connect(server_conninfo(dbname=dbname, user="odl_app"))


def test_without_token_mode_an_application_needs_no_token(people):
    with token_mode(people.dbname, False), app_connection(people.dbname) as app:
        app.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.guest_id))
        assert app.execute("select odl.odl_current_user_id()").fetchone()[0] == people.guest_id


def test_in_token_mode_the_application_needs_a_valid_token(people):
    context = "select odl.odl_set_context(%s, %s, %s)"
    with token_mode(people.dbname), app_connection(people.dbname) as app:
        with refused("ODC07"):
            app.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.guest_id))
        app.rollback()

        token = issue_token(people.dbname, people.tenant_id, people.guest_id)
        app.execute(context, (people.tenant_id, people.guest_id, token))
        assert app.execute("select odl.odl_current_user_id()").fetchone()[0] == people.guest_id
        app.rollback()

        # Someone else's context with the guest's token, and an altered token.
        with refused("ODC08"):
            app.execute(context, (people.tenant_id, people.admin_id, token))
        app.rollback()
        fields = token.split(".")
        for altered in (
            ".".join(fields[:3] + [people.admin_id] + fields[4:]),
            ".".join(fields[:4] + [str(int(fields[4]) + 3600)] + fields[5:]),
            token[:-1] + ("0" if token[-1] != "0" else "1"),
            "garbage",
        ):
            with refused("ODC08"):
                app.execute(context, (people.tenant_id, people.admin_id, altered))
            app.rollback()

        expiring = issue_token(people.dbname, people.tenant_id, people.guest_id, ttl=1)
        time.sleep(2.1)
        with refused("ODC09"):
            app.execute(context, (people.tenant_id, people.guest_id, expiring))
        app.rollback()


def test_the_client_sets_each_context_with_its_users_token(people):
    conninfo = server_conninfo(dbname=people.dbname, user="odl_app")
    auth_dsn = server_conninfo(dbname=people.dbname, options="-c role=odl_auth")
    with token_mode(people.dbname), OdlAuth.connect(auth_dsn) as auth, OdlPool(conninfo, max_size=1) as pool:
        with pytest.raises(ContextError) as refused:
            with pool.transaction(people.tenant_id, people.guest_id):
                pass
        assert refused.value.sqlstate == "ODC07"
        token = auth.issue_token(people.tenant_id, people.guest_id, ttl_seconds=60)
        with pool.transaction(people.tenant_id, people.guest_id, token=token) as odl:
            assert odl.get_document(people.doc_id).redacted
        with pytest.raises(ContextError) as refused:
            with pool.transaction(people.tenant_id, people.admin_id, token=token):
                pass
        assert refused.value.sqlstate == "ODC08"

        tokens = auth.token_source()
        assert tokens(people.tenant_id, people.guest_id) == tokens(people.tenant_id, people.guest_id)
        with OdlPool(conninfo, max_size=1, tokens=tokens) as pooled:
            for user in (people.guest_id, people.admin_id):
                with pooled.transaction(people.tenant_id, user) as odl:
                    assert odl.connection.execute("select odl.odl_current_user_id()").fetchone()[0] == user
        with pytest.raises(ContextError) as refused:
            auth.issue_token(people.tenant_id, "01" + "0" * 24)
        assert refused.value.sqlstate == "ODC02"


def test_only_the_login_service_issues_tokens(people):
    with app_connection(people.dbname) as app:
        with refused("42501"):
            app.execute("select odl.odl_issue_context_token(%s, %s)", (people.tenant_id, people.admin_id))


def test_in_token_mode_a_bound_login_needs_no_token(people):
    people.bind(people.guest_id)
    with token_mode(people.dbname), people.analyst() as conn:
        conn.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.guest_id))
        assert conn.execute("select odl.odl_current_user_id()").fetchone()[0] == people.guest_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def standby(dbname):
    """A streaming replica of the test cluster (pg_basebackup -R), caught up."""
    with psycopg.connect(server_conninfo(dbname="postgres")) as primary:
        primary_port = primary.info.port
    parent = Path(tempfile.mkdtemp(prefix="odl-standby-"))
    parent.chmod(0o755)
    data, port = parent / "data", free_port()
    started = subprocess.run(
        [str(TOP / "scripts" / "pgcluster"), "replica", str(data), str(port), str(primary_port)],
        capture_output=True, text=True,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield port
    finally:
        subprocess.run([str(TOP / "scripts" / "pgcluster"), "stop", str(data)], capture_output=True)
        subprocess.run(["rm", "-rf", str(parent)])


def caught_up(dbname: str, port: int) -> None:
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as primary:
        # Inserted, not yet written: commits are asynchronous in the test cluster.
        lsn = primary.execute("select pg_current_wal_insert_lsn()").fetchone()[0]
    with psycopg.connect(server_conninfo(dbname=dbname, port=str(port)), autocommit=True) as replica:
        for _ in range(300):
            if replica.execute("select pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
                return
            time.sleep(0.1)
    pytest.fail("the standby did not catch up in 30 s")


def test_a_hot_standby_serves_the_same_reads_and_refuses_the_same_forgeries(people, standby):
    people.bind(people.guest_id)
    with people.access.session(people.guest_id) as app:
        on_primary = app_reads(app, people)
    caught_up(people.dbname, standby)

    replica = dict(dbname=people.dbname, port=str(standby))
    with psycopg.connect(server_conninfo(user="odl_app", **replica)) as app:
        assert app.execute("select pg_is_in_recovery()").fetchone()[0]
        app.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.guest_id))
        assert app_reads(app, people) == on_primary
        app.rollback()
        app.execute("select set_config('odl.context', %s, true)", (f"{people.tenant_id}/{people.admin_id}/{'0' * 64}",))
        with refused("ODC01"):
            app.execute("select odl.odl_get_document(%s)", (people.doc_id,))
    with psycopg.connect(server_conninfo(user=people.login, **replica)) as analyst:
        with refused("ODC05"):
            analyst.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.admin_id))
        analyst.rollback()
        analyst.execute("select odl.odl_set_context(%s, %s)", (people.tenant_id, people.guest_id))
        assert analyst_reads(analyst, people) == on_primary
