"""A session deploys odl-db once into a fresh database of the throwaway
cluster that scripts/test starts (the libpq PG* variables point at it).
Each test then works in its own transaction, rolled back afterwards, or in
its own tenant.

`--token-mode` deploys that database in token mode (odl.settings
require_context_token = on) and runs only the modules marked
`runs_in_token_mode`: those that act through the API as an application.
Their helpers follow the database's mode (set_app_context, TenantAccess,
login_tokens), so the same tests run both ways; scripts/test runs them
twice."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "plpython"))
sys.path.insert(0, str(TOP / "tools"))
# This tree's client, not whichever one the virtualenv installed editable.
sys.path.insert(0, str(TOP / "client"))

from odl_client import OdlAuth  # noqa: E402

TOKEN_MODE_MARK = "runs_in_token_mode"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--token-mode", action="store_true",
        help="deploy in token mode and run only the modules marked runs_in_token_mode",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{TOKEN_MODE_MARK}: the module also runs with --token-mode (contexts need login-service tokens)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--token-mode"):
        return
    selected = [item for item in items if item.get_closest_marker(TOKEN_MODE_MARK)]
    deselected = [item for item in items if not item.get_closest_marker(TOKEN_MODE_MARK)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def server_conninfo(**overrides: str) -> str:
    if not os.environ.get("PGPORT"):
        pytest.fail("PGHOST/PGPORT are not set: run the tests with `make test`", pytrace=False)
    return psycopg.conninfo.make_conninfo("", **overrides)


def sqitch(command: str, dbname: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PGDATABASE=dbname)
    return subprocess.run(
        ["sqitch", command, *args, "db:pg:"],
        cwd=TOP, env=env, capture_output=True, text=True,
    )


def create_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_conninfo(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(server_conninfo(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


class LoginService:
    """The login service of one database: in token mode it issues each
    user's context token as odl_auth (kept while fresh); outside token mode
    it gives none. The mode is read from the database."""

    def __init__(self, dbname: str):
        # A release before token mode (the upgrade test's v0.1.0) has no
        # odl.settings: no tokens there.
        with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
            self.on = su.execute("select to_regclass('odl.settings') is not null").fetchone()[0] and su.execute(
                "select value = 'on' from odl.settings where name = 'require_context_token'"
            ).fetchone()[0]
        self.dbname = dbname
        self._tokens = None
        self._auth: OdlAuth | None = None

    def tokens(self):
        """The client's TokenSource in token mode, None otherwise."""
        if not self.on:
            return None
        if self._tokens is None:
            self._auth = OdlAuth.connect(server_conninfo(dbname=self.dbname, options="-c role=odl_auth"))
            self._tokens = self._auth.token_source()
        return self._tokens

    def token(self, tenant_id: str, user_id: str) -> str | None:
        tokens = self.tokens()
        return None if tokens is None else tokens(tenant_id, user_id)

    def set_context(self, conn: psycopg.Connection, tenant_id: str, user_id: str) -> None:
        """odl_set_context() on an application's connection, with a token in token mode."""
        token = self.token(tenant_id, user_id)
        if token is None:
            conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
        else:
            conn.execute("select odl.odl_set_context(%s, %s, %s)", (tenant_id, user_id, token))

    def close(self) -> None:
        if self._auth is not None:
            self._auth.close()
        self._auth = self._tokens = None


_login_services: dict[str, LoginService] = {}


def login_service(dbname: str) -> LoginService:
    if dbname not in _login_services:
        _login_services[dbname] = LoginService(dbname)
    return _login_services[dbname]


def switch_token_mode(dbname: str, on: bool) -> None:
    """The DBA's switch, and the helpers follow it."""
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        su.execute(
            "update odl.settings set value = %s where name = 'require_context_token'", ("on" if on else "off",)
        )
    forgotten = _login_services.pop(dbname, None)
    if forgotten is not None:
        forgotten.close()


def set_app_context(conn: psycopg.Connection, tenant_id: str, user_id: str) -> None:
    """What an application does first in each transaction: odl_set_context(),
    with the user's token when the connection's database is in token mode."""
    login_service(conn.info.dbname).set_context(conn, tenant_id, user_id)


@pytest.fixture(scope="session")
def token_mode(request) -> bool:
    """This run's mode: True with --token-mode."""
    return request.config.getoption("--token-mode")


@pytest.fixture(scope="session")
def dbname(token_mode) -> str:
    name = create_database("odl_pytest")
    result = sqitch("deploy", name, "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    if token_mode:
        switch_token_mode(name, True)
    yield name
    forgotten = _login_services.pop(name, None)
    if forgotten is not None:
        forgotten.close()
    drop_database(name)


@pytest.fixture(scope="session")
def login_tokens(dbname):
    """The client's TokenSource for the session's database (None outside token mode)."""
    return login_service(dbname).tokens()


@pytest.fixture
def conn(dbname):
    """A superuser connection whose work is rolled back."""
    with psycopg.connect(server_conninfo(dbname=dbname)) as connection:
        yield connection
        connection.rollback()


@pytest.fixture
def connect(dbname):
    """Opens extra connections (as any role) that are closed afterwards."""
    opened = []

    def open_connection(user: str = "postgres", **kwargs) -> psycopg.Connection:
        connection = psycopg.connect(server_conninfo(dbname=dbname, user=user), **kwargs)
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()


@pytest.fixture
def tenant(dbname):
    """A committed tenant with one engineer: (tenant_id, user_id)."""
    with psycopg.connect(server_conninfo(dbname=dbname, user="postgres")) as admin:
        admin.execute("set role odl_admin")
        tenant_id = admin.execute(
            "select odl.odl_create_tenant(%s, 'EU')", (f"t-{uuid.uuid4().hex[:6]}",)
        ).fetchone()[0]
        user_id = admin.execute(
            "select odl.odl_create_user(%s, %s, 'engineer')",
            (tenant_id, f"{uuid.uuid4().hex[:6]}@example.com"),
        ).fetchone()[0]
    return tenant_id, user_id


class TenantAccess:
    """Rights in a tenant, bootstrapped through the access API as the model
    requires: the tenant's administrator (a human whose coarse role is
    super_user, created by odl_admin) creates a PORTFOLIO node, assigns roles
    there and attaches projects to it. Every step commits."""

    def __init__(self, dbname: str, tenant: tuple[str, str]):
        self.dbname = dbname
        self.tenant_id, self.user_id = tenant
        self.admin_id = self.create_user("super_user")
        with self.session(self.admin_id) as conn:
            self.node_id = conn.execute(
                "select odl.odl_create_node(null, 'PORTFOLIO', %s)", (f"portfolio-{uuid.uuid4().hex[:6]}",)
            ).fetchone()[0]

    def create_user(self, role: str, mfa_enabled: bool = True) -> str:
        """Another user of the tenant (created by odl_admin), with a coarse role."""
        with psycopg.connect(server_conninfo(dbname=self.dbname, user="postgres")) as admin:
            admin.execute("set role odl_admin")
            return admin.execute(
                "select odl.odl_create_user(%s, %s, %s, %s)",
                (self.tenant_id, f"{uuid.uuid4().hex[:6]}@example.com", role, mfa_enabled),
            ).fetchone()[0]

    def session(self, user_id: str) -> psycopg.Connection:
        """An odl_app connection acting as user_id in its first transaction
        (with a token from the login service in token mode)."""
        conn = psycopg.connect(server_conninfo(dbname=self.dbname, user="odl_app"))
        set_app_context(conn, self.tenant_id, user_id)
        return conn

    def assign(self, role: str, user_id: str | None = None) -> str:
        """Assigns the role at the PORTFOLIO node to user_id (the tenant's
        user by default); returns the assignment's id."""
        with self.session(self.admin_id) as conn:
            return conn.execute(
                "select odl.odl_assign_role(%s, %s, %s)", (user_id or self.user_id, self.node_id, role)
            ).fetchone()[0]

    def attach(self, project_id: str) -> None:
        """Hangs a committed project under the PORTFOLIO node."""
        with self.session(self.admin_id) as conn:
            conn.execute("select odl.odl_attach_project(%s, %s)", (project_id, self.node_id))


@pytest.fixture
def access(dbname, tenant) -> TenantAccess:
    """The tenant's administrator and a PORTFOLIO node, ready to assign roles
    and attach projects (kept apart from `tenant`, whose ledger some tests
    count from its creation events)."""
    return TenantAccess(dbname, tenant)
