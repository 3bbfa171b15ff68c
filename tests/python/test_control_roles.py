"""The control plane's roles (control/, change roles): the router role reads
tenant -> region -> connection and the migrations, cannot write a table of
the control plane, and moves a tenant only through the logged migration
functions, which keep to the state machine and log every step."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import create_database, drop_database, server_conninfo

TOP = Path(__file__).resolve().parents[2]
TENANT = "01J00000000000000000000001"


def control_sqitch(command: str, dbname: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sqitch", "--chdir", "control", command, *args, "db:pg:"], cwd=TOP,
                          env=dict(os.environ, PGDATABASE=dbname), capture_output=True, text=True)


@pytest.fixture(scope="module")
def control():
    name = create_database("odl_control_roles")
    deployed = control_sqitch("deploy", name, "--verify")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    with psycopg.connect(server_conninfo(dbname=name), autocommit=True) as su:
        su.execute("insert into odl_control.regions values ('EU', 'host=eu dbname=odl', 'host=eu user=postgres'),"
                   " ('US', 'host=us dbname=odl', null)")
    yield name
    drop_database(name)


@pytest.fixture
def router(control):
    """A transaction as odl_control_router (what the router's login is granted), rolled back."""
    with psycopg.connect(server_conninfo(dbname=control)) as conn:
        conn.execute("set role odl_control_router")
        yield conn
        conn.rollback()


def refused(conn: psycopg.Connection, query: str, params=()) -> str:
    with pytest.raises(psycopg.Error) as error:
        with conn.transaction():
            conn.execute(query, params)
    return error.value.sqlstate


def test_the_router_reads_the_map_and_writes_no_table(router):
    router.execute("select odl_control.register_tenant(%s, 'EU')", (TENANT,))
    assert router.execute(
        "select t.region, r.dsn, coalesce(r.admin_dsn, r.dsn) from odl_control.tenants as t"
        " join odl_control.regions as r using (region) where t.tenant_id = %s", (TENANT,)
    ).fetchone() == ("EU", "host=eu dbname=odl", "host=eu user=postgres")
    assert router.execute("select region, tenants from odl_control.region_counts order by 1").fetchall() == [
        ("EU", 1), ("US", 0)]
    for statement in (
        "update odl_control.tenants set region = 'US'",
        "delete from odl_control.tenants",
        "insert into odl_control.tenants (tenant_id, region) values ('01J00000000000000000000002', 'US')",
        "update odl_control.regions set dsn = 'host=evil'",
        "insert into odl_control.regions values ('APAC', 'host=x', null)",
        "insert into odl_control.migrations (tenant_id, source_region, target_region) values ('x', 'EU', 'US')",
        "update odl_control.migrations set state = 'verified'",
        "delete from odl_control.migration_log",
        "truncate odl_control.migration_log",
        "select odl_control.migration_step()",
    ):
        assert refused(router, statement) == "42501", statement
    # Registered again in another region: that is a move, refused.
    assert refused(router, "select odl_control.register_tenant(%s, 'US')", (TENANT,)) == "ODW08"


def test_the_router_moves_a_tenant_only_along_the_logged_steps(router):
    router.execute("select odl_control.register_tenant(%s, 'EU')", (TENANT,))
    migration = router.execute("select odl_control.plan_migration(%s, 'EU', 'US')", (TENANT,)).fetchone()[0]
    # Not verified yet: no flip, no skipping ahead.
    assert refused(router, "select odl_control.flip_tenant(%s)", (migration,)) == "ODW08"
    assert refused(router, "select odl_control.advance_migration(%s, 'verified')", (migration,)) == "ODW07"
    assert refused(router, "select odl_control.advance_migration(-1, 'frozen')") == "ODW07"
    for state in ("frozen", "copied", "verified"):
        router.execute("select odl_control.advance_migration(%s, %s, %s)",
                       (migration, state, Jsonb({state: True})))
    router.execute("select odl_control.flip_tenant(%s)", (migration,))
    assert router.execute("select region from odl_control.tenants where tenant_id = %s", (TENANT,)).fetchone() == (
        "US",)
    assert router.execute(
        "select array_agg(state order by seq) from odl_control.migration_log where migration_id = %s", (migration,)
    ).fetchone()[0] == ["planned", "frozen", "copied", "verified", "flipped"]
    assert router.execute("select detail from odl_control.migrations where migration_id = %s",
                          (migration,)).fetchone()[0] == {"frozen": True, "copied": True, "verified": True}


def test_roles_revert_and_deploy_again(control):
    with psycopg.connect(server_conninfo(dbname=control)) as su:
        tenants_before = su.execute("select count(*) from odl_control.tenants").fetchone()[0]
    reverted = control_sqitch("revert", control, "-y", "--to", "control_plane")
    assert reverted.returncode == 0, reverted.stderr
    with psycopg.connect(server_conninfo(dbname=control)) as su:
        assert su.execute(
            "select nspowner::regrole::text from pg_namespace where nspname = 'odl_control'").fetchone()[0] == "postgres"
        assert su.execute("select count(*) from pg_policies where schemaname = 'odl_control'").fetchone()[0] == 0
    deployed = control_sqitch("deploy", control, "--verify")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    with psycopg.connect(server_conninfo(dbname=control)) as su:
        assert su.execute("select count(*) from odl_control.tenants").fetchone()[0] == tenants_before
