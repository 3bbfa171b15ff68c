"""Reverting never drops data by accident: `make revert` counts the rows it
would drop and refuses before reverting anything, and the revert script of
each change that holds data refuses on its own, so `sqitch revert` is safe
too. The append-only audit ledger needs its own, second yes."""

from __future__ import annotations

import os
import subprocess

import psycopg

from conftest import TOP, create_database, drop_database, server_conninfo, sqitch


def deployed_changes(dbname: str) -> int:
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        return conn.execute("select count(*) from sqitch.changes").fetchone()[0]


def make_revert(dbname: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["scripts/revert", "db:pg:"], cwd=TOP, capture_output=True, text=True,
        env=dict(os.environ, PGDATABASE=dbname, **env),
    )


def test_revert_refuses_to_drop_data_and_names_what_it_would_drop():
    dbname = create_database("odl_revert")
    try:
        assert sqitch("deploy", dbname).returncode == 0
        with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as admin:
            admin.execute("set role odl_admin")
            admin.execute("select odl.odl_create_tenant('keep-me', 'EU')")
        everything = deployed_changes(dbname)

        refused = make_revert(dbname)
        assert refused.returncode == 1
        assert "odl.tenants 1" in refused.stdout
        assert "odl.audit_events" in refused.stdout
        assert "DROP_DATA=yes DROP_LEDGER=yes" in refused.stderr
        assert deployed_changes(dbname) == everything, "make revert must refuse before reverting anything"

        # Without the ledger's own yes, the data yes is not enough.
        assert make_revert(dbname, DROP_DATA="yes").returncode == 1
        assert deployed_changes(dbname) == everything

        # sqitch alone: the first change that holds data refuses, naming it.
        direct = sqitch("revert", dbname, "-y")
        assert direct.returncode != 0
        assert "reverting would drop data: odl.audit_events" in direct.stdout + direct.stderr
        with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
            assert conn.execute("select count(*) from odl.tenants").fetchone()[0] == 1

        agreed = make_revert(dbname, DROP_DATA="yes", DROP_LEDGER="yes")
        assert agreed.returncode == 0, agreed.stdout + agreed.stderr
        assert deployed_changes(dbname) == 0
    finally:
        drop_database(dbname)


def test_revert_of_an_empty_database_needs_no_yes():
    dbname = create_database("odl_revert_empty")
    try:
        assert sqitch("deploy", dbname).returncode == 0
        result = make_revert(dbname)
        assert result.returncode == 0, result.stdout + result.stderr
        assert deployed_changes(dbname) == 0
    finally:
        drop_database(dbname)
