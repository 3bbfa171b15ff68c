"""A session deploys odl-db once into a fresh database of the throwaway
cluster that scripts/test starts (the libpq PG* variables point at it).
Each test then works in its own transaction, rolled back afterwards, or in
its own tenant."""

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


@pytest.fixture(scope="session")
def dbname() -> str:
    name = create_database("odl_pytest")
    result = sqitch("deploy", name, "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    yield name
    drop_database(name)


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
        """An odl_app connection acting as user_id in its first transaction."""
        conn = psycopg.connect(server_conninfo(dbname=self.dbname, user="odl_app"))
        conn.execute("select odl.odl_set_context(%s, %s)", (self.tenant_id, user_id))
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
