"""odl_owner, the role every API function runs as, cannot plant code that a
superuser or the server's OS user would run: the deployer runs routines of
schema odl on every deploy, and every PL/Python function runs the modules
of odl.python_modules. Only superusers change routines of odl, and the
modules belong to the deployer (change deploy_guard)."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture
def owner(conn):
    """The superuser's connection acting as odl_owner, in a transaction that is rolled back."""
    conn.execute("set role odl_owner")
    yield conn
    conn.rollback()


ATTEMPTS = {
    "replace a routine the deployer calls": (
        "create or replace procedure odl.adopt_objects() language plpgsql as $$ begin null; end $$"
    ),
    "add a routine to schema odl": "create function odl.planted() returns int language sql as $$ select 1 $$",
    "alter a routine": "alter function odl.odl_ulid() set search_path = public",
    "drop a routine to put its own in place": "drop function odl.odl_limits()",
    "rewrite a PL/Python module": "update odl.python_modules set source = source || '\nimport os' where module = 'odl_db'",
    "take the modules": "alter table odl.python_modules owner to odl_owner",
}


@pytest.mark.parametrize("attempt", sorted(ATTEMPTS))
def test_odl_owner_cannot_plant_code(owner, attempt):
    with pytest.raises(psycopg.Error) as refused:
        with owner.transaction():
            owner.execute(ATTEMPTS[attempt])
    assert refused.value.sqlstate == "42501", refused.value


def test_odl_owner_still_reads_the_modules_it_runs(owner):
    assert owner.execute("select count(*) from odl.python_modules").fetchone()[0] > 5


def test_a_superuser_still_changes_routines(conn):
    with conn.transaction():
        conn.execute("create function odl.planted() returns int language sql as $$ select 1 $$")
        conn.execute("drop function odl.planted()")


def findings(conn) -> list[tuple]:
    return conn.execute(
        "select object_name, detail from odl.odl_security_audit() where finding = 'owner_can_plant_code' order by 1, 2"
    ).fetchall()


def test_the_security_audit_finds_code_odl_owner_could_plant(conn):
    assert findings(conn) == []
    with conn.transaction(force_rollback=True):
        conn.execute("alter event trigger odl_routine_ddl_guard disable")
        conn.execute("alter table odl.python_modules owner to odl_owner")
        found = findings(conn)
    assert ("odl_routine_ddl_guard", "the guard against routine DDL by non-superusers is missing or disabled") in found
    assert ("odl.python_modules", "odl_owner may update the PL/Python modules") in found
    assert findings(conn) == []
