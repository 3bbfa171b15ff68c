"""Upgrades, proven on data.

A DBA deploys a release (each of them in turn), the database fills with tenants,
documents, patches, change requests and audit events, and then the DBA
deploys the current tree onto it. Every change must upgrade, verify and run
exactly the current sources, without changing a row the release wrote, and
every audit chain must still verify against a digest taken before the
upgrade. Reverting to the release brings its routines and modules back, and
the data is still there.

The release is deployed from this tree's plan up to its tag, as sqitch
intends: a reworked change runs its frozen script (deploy/CHANGE@TAG.sql),
and srcguard proves that every other released change still includes the
sources it had at the tag (release.lock). So the test needs no git history:
CI's clone may be shallow and without tags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import TOP, TenantAccess, create_database, drop_database, server_conninfo
import srcguard

sys.path.insert(0, str(TOP))
# The generator writes the documents v0.1.0 accepted (it has not changed
# since): the load fails loudly if it ever writes one the release refuses.
from fixtures import odlsd  # noqa: E402

# Every release: the tags of the plan. A DBA may upgrade from any of them.
RELEASES = [line.split()[0][1:] for line in (TOP / "sqitch.plan").read_text().splitlines() if line.startswith("@")]

# Tables that hold code or configuration, which an upgrade replaces by design;
# every other table of schema odl holds data that must survive unchanged.
CODE_TABLES = {"python_modules", "error_codes", "json_schemas", "session_contexts", "document_projectors"}
# Settings a later change adds with their defaults: the upgrade must leave
# every setting the release had as it was.
ADDED_ROWS = {"settings": " where name not in ('ai_session_max_age', 'ai_message_retention')"}


def run(args: list[str], cwd: Path, dbname: str | None = None) -> subprocess.CompletedProcess:
    env = None if dbname is None else dict(os.environ, PGDATABASE=dbname)
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} in {cwd}:\n{result.stdout}\n{result.stderr}"
    return result


def deployed_code(conn: psycopg.Connection) -> dict[str, tuple]:
    """Every routine of the project's schemas (signature, body, settings,
    security, owner and grants) and every PL/Python module."""
    routines = conn.execute(
        """
        select p.oid::regprocedure::text, p.prosrc, p.proconfig, p.prosecdef, p.proowner::regrole::text, p.proacl::text[]
        from pg_catalog.pg_proc as p
        where p.pronamespace::regnamespace::text in ('odl', 'odl_ledger')
        """
    ).fetchall()
    modules = conn.execute("select module, md5(source) from odl.python_modules").fetchall()
    return {name: tuple(rest) for name, *rest in routines} | {f"module {m}": (h,) for m, h in modules}


def data_tables(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Each data table of schema odl (partitioned parents, not their
    partitions) with its columns, in order."""
    rows = conn.execute(
        """
        select c.relname, array_agg(a.attname::text order by a.attnum)
        from pg_catalog.pg_class as c
        join pg_catalog.pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relnamespace = 'odl'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
        group by c.relname
        """
    ).fetchall()
    return {name: columns for name, columns in rows if name not in CODE_TABLES}


def fingerprint(conn: psycopg.Connection, tables: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    """(row count, md5 of the sorted rows) of each table over the given columns."""
    prints = {}
    for table, columns in tables.items():
        cols = ", ".join(f'"{c}"' for c in columns)
        prints[table] = conn.execute(
            f"select count(*), coalesce(md5(string_agg(r, E'\\n' order by r)), '')"
            f" from (select row({cols})::text as r from odl.{table}{ADDED_ROWS.get(table, '')}) as rows"
        ).fetchone()
    return prints


def load(dbname: str) -> list[tuple[str, dict]]:
    """Tenants with users, nodes, roles, projects, documents, patches, a
    revert, a change request and application audit events, through the
    release's API. Returns each tenant's id and its trusted digest."""
    tenants = []
    for number in range(2):
        with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as admin:
            admin.execute("set role odl_admin")
            tenant_id = admin.execute("select odl.odl_create_tenant(%s, 'EU')", (f"upgrade-{number}",)).fetchone()[0]
            engineer = admin.execute(
                "select odl.odl_create_user(%s, %s, 'engineer')", (tenant_id, f"engineer{number}@example.com")
            ).fetchone()[0]
        access = TenantAccess(dbname, (tenant_id, engineer))
        access.assign("super_user", access.admin_id)
        access.assign("engineer", engineer)
        with access.session(access.admin_id) as conn:
            project_id = conn.execute("select odl.odl_create_project(%s)", (f"plant-{number}",)).fetchone()[0]
        access.attach(project_id)
        for seed in range(2):
            doc = odlsd.generate(10_000, seed=seed + 10 * number)
            with access.session(access.admin_id) as conn:
                doc_id = conn.execute("select odl.odl_create_document(%s, %s)", (project_id, Jsonb(doc))).fetchone()[0]
            for version in range(1, 5):
                with access.session(engineer) as conn:
                    conn.execute(
                        "select version from odl.odl_apply_patch(%s, %s, %s, 'upgrade test')",
                        (doc_id, Jsonb([{"op": "add", "path": "/meta/upgrade_note", "value": f"v{version}"}]), version),
                    )
            with access.session(engineer) as conn:
                conn.execute("select version from odl.odl_revert_document(%s, 2, 5)", (doc_id,))
                conn.execute(
                    "select change_id from odl.odl_apply_patch(%s, %s, 6, 'to approve', propose => true)",
                    (doc_id, Jsonb([{"op": "replace", "path": "/meta/upgrade_note", "value": "proposed"}])),
                )
                conn.execute("select odl.odl_audit_log('login.ok', %s)", (Jsonb({"client": "upgrade"}),))
                conn.commit()
        with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as admin:
            admin.execute("set role odl_admin")
            digest = admin.execute("select odl.odl_audit_digest(%s)", (tenant_id,)).fetchone()[0]
        tenants.append((tenant_id, digest))
    return tenants


def verify_chains(dbname: str, tenants: list[tuple[str, dict]]) -> None:
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as admin:
        admin.execute("set role odl_admin")
        for tenant_id, digest in tenants:
            for trusted in (None, Jsonb(digest)):
                result = admin.execute("select odl.odl_audit_verify(%s, %s)", (tenant_id, trusted)).fetchone()[0]
                assert result["ok"], result


@pytest.mark.parametrize("release", RELEASES)
def test_the_release_upgrades_to_this_tree_and_reverts_with_its_data(release):
    dbname = create_database("odl_upgrade")
    try:
        run(["sqitch", "deploy", "--verify", "--to", f"@{release}", "db:pg:"], TOP, dbname)
        tenants = load(dbname)
        with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
            released_code = deployed_code(conn)
            tables = data_tables(conn)
            before = fingerprint(conn, tables)
        assert before["odl_documents"][0] == 4 and before["change_requests"][0] == 4

        run(["sqitch", "deploy", "--verify", "db:pg:"], TOP, dbname)
        run(["sqitch", "verify", "db:pg:"], TOP, dbname)
        with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
            assert srcguard.deployed_differences(conn) == []
            assert fingerprint(conn, tables) == before
            projected = conn.execute("select count(*) from odl.document_instances").fetchone()[0]
            instances = conn.execute(
                "select coalesce(sum(jsonb_array_length(doc_json -> 'instances')), 0) from odl.odl_documents"
            ).fetchone()[0]
            assert projected == instances > 0, "the instances projection must cover the documents the release stored"
        verify_chains(dbname, tenants)

        run(["sqitch", "revert", "-y", "--to", f"@{release}", "db:pg:"], TOP, dbname)
        run(["sqitch", "verify", "--to", f"@{release}", "db:pg:"], TOP, dbname)
        with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
            assert deployed_code(conn) == released_code
            assert fingerprint(conn, tables) == before
        verify_chains(dbname, tenants)
    finally:
        drop_database(dbname)
