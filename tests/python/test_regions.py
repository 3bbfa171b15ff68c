"""Tenants pinned to their region: three regional clusters (US, EU, APAC) and
a control plane on free ports (scripts/regions.py), a mixed workload through
odl_client.RegionRouter, and the checks of issue 15: no tenant row outside
its home region in any table with a tenant_id column, misrouted writes
refused with ODW codes, a tenant moved as a logged migration with its audit
chain, and reports that see aggregates only."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import TOP, create_database, drop_database, server_conninfo

from odl_client import RegionError, RegionRouter
from odl_client import regions as regions_module

spec = importlib.util.spec_from_file_location("regions_script", TOP / "scripts" / "regions.py")
assert spec and spec.loader
regions_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(regions_script)
REGIONS = regions_script.REGIONS


@pytest.fixture(scope="module")
def world() -> Iterator[Any]:
    ports = {name: regions_script.free_port() for name in (*REGIONS, "CONTROL")}
    # Short and traversable: the clusters' sockets live there, and the
    # postgres OS user runs them when the tests run as root.
    work = Path(tempfile.mkdtemp(prefix="odl-regions-"))
    work.chmod(0o755)
    env = regions_script.Regions(work, ports)
    try:
        env.start_cloned()
        router = RegionRouter(env.control_dsn, min_size=0)
        workload = regions_script.Workload(router)
        workload.run(tenants_per_region=2, rounds=2)
        env.router, env.workload = router, workload
        yield env
        router.close()
    finally:
        env.stop()
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def raises_sqlstate(sqlstate: str) -> Iterator[None]:
    with pytest.raises(psycopg.Error) as raised:
        yield
    assert raised.value.sqlstate == sqlstate, raised.value


def homes(world) -> dict[str, str]:
    with psycopg.connect(world.control_dsn) as conn:
        return dict(conn.execute("select tenant_id, region from odl_control.tenants").fetchall())


def assert_every_row_at_home(world) -> dict[str, dict[str, int]]:
    home = homes(world)
    found = world.tenant_rows()
    for region, tenants in found.items():
        misplaced = {t: n for t, n in tenants.items() if home.get(t) != region}
        assert misplaced == {}, f"rows outside their home region in {region}: {misplaced}"
    # Not vacuous: every registered tenant has its rows, in its region.
    assert {t for t, region in home.items() if found[region].get(t, 0) > 0} == set(home)
    return found


def tenant_of(world, region: str) -> tuple[str, dict[str, Any]]:
    return next((t, v) for t, v in world.workload.tenants.items() if v["region"] == region and not v.get("moved"))


def count(world, region: str, query: str, *params: Any) -> Any:
    with world.admin_connect(region) as conn:
        return conn.execute(query, params).fetchone()[0]


def test_no_tenant_row_lives_outside_its_home_region(world):
    found = assert_every_row_at_home(world)
    with world.admin_connect("EU") as conn:
        tables = regions_script.tenant_tables(conn)
    # Every table with a tenant_id column was looked at, ledger and partitions included.
    assert {"odl.tenants", "odl.odl_documents", "odl.odl_document_versions", "odl.audit_events",
            "odl.tenant_departures", "odl.graph_nodes"} <= set(tables)
    assert all(len(found[r]) == 2 and min(found[r].values()) > 20 for r in REGIONS)


def test_each_region_knows_its_region(world):
    for region in REGIONS:
        assert count(world, region, "select odl.odl_region()") == region


def test_a_write_sent_to_another_region_is_refused(world):
    tenant_id, t = tenant_of(world, "US")
    before = count(world, "EU", "select count(*) from odl.audit_events")
    with pytest.raises(RegionError) as refused:
        with world.router.region_pool("EU").transaction(tenant_id, t["engineer"]) as odl:
            odl.audit_log("regions.misrouted", {})
    assert refused.value.sqlstate == "ODW03"
    assert "not homed in region EU" in refused.value.message
    assert count(world, "EU", "select count(*) from odl.audit_events") == before
    assert world.workload.misrouted_write() == "ODW03"


def test_a_tenant_of_another_region_is_never_created_and_its_region_never_updated(world):
    with world.router.admin("EU") as admin, pytest.raises(RegionError) as refused:
        admin.create_tenant("stray", "US")
    assert refused.value.sqlstate == "ODW01"
    tenant_id, _ = tenant_of(world, "EU")
    with world.admin_connect("EU") as conn, raises_sqlstate("ODW02"):
        conn.execute("update odl.tenants set region = 'US' where tenant_id = %s", (tenant_id,))


def test_the_router_refuses_an_unknown_tenant(world):
    with pytest.raises(RegionError) as refused:
        world.router.region_of("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert refused.value.sqlstate == "ODW06"


def test_the_map_changes_only_through_a_verified_migration(world):
    tenant_id, _ = tenant_of(world, "APAC")
    with psycopg.connect(world.control_dsn, autocommit=True) as conn:
        with raises_sqlstate("ODW08"):
            conn.execute("update odl_control.tenants set region = 'EU' where tenant_id = %s", (tenant_id,))
        migration = conn.execute(
            "insert into odl_control.migrations (tenant_id, source_region, target_region) "
            "values (%s, 'APAC', 'EU') returning migration_id", (tenant_id,)).fetchone()[0]
        with raises_sqlstate("ODW07"):
            conn.execute("update odl_control.migrations set state = 'verified' where migration_id = %s",
                         (migration,))
        conn.execute("update odl_control.migrations set state = 'failed' where migration_id = %s", (migration,))
        assert conn.execute("select region from odl_control.tenants where tenant_id = %s",
                            (tenant_id,)).fetchone()[0] == "APAC"


def test_writes_at_the_source_are_refused_while_a_tenant_moves(world):
    tenant_id, t = tenant_of(world, "APAC")
    with world.admin_connect("APAC") as conn:
        conn.execute("select odl.odl_region_freeze(%s, 'EU', 0)", (tenant_id,))
    try:
        with pytest.raises(RegionError) as refused:
            with world.router.transaction(tenant_id, t["engineer"]) as odl:
                odl.audit_log("regions.during_move", {})
        assert refused.value.sqlstate == "ODW04"
        # Reads go on, in read-only transactions.
        with psycopg.connect(regions_script.dsn(world.ports["APAC"], "odl", "odl_app")) as conn:
            conn.execute("begin read only")
            conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, t["engineer"]))
            assert conn.execute("select count(*) from odl.odl_document_heads(null)").fetchone()[0] == 1
    finally:
        with world.admin_connect("APAC") as conn:
            assert conn.execute("select odl.odl_region_unfreeze(%s)", (tenant_id,)).fetchone()[0] is True
    world.workload.patch(tenant_id, "after the freeze")


def test_a_freeze_waits_for_the_tenants_writers(world):
    tenant_id, t = tenant_of(world, "US")
    writer = psycopg.connect(regions_script.dsn(world.ports["US"], "odl", "odl_app"))
    writer.execute("select odl.odl_set_context(%s, %s)", (tenant_id, t["engineer"]))
    with world.admin_connect("US") as admin:
        admin.execute("set lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            admin.execute("select odl.odl_region_freeze(%s, 'EU', 0)", (tenant_id,))
    writer.rollback()
    writer.close()
    assert count(world, "US", "select count(*) from odl.tenant_departures") == 0


def test_a_tenant_moves_with_its_documents_versions_and_audit_chain(world):
    tenant_id, t = tenant_of(world, "APAC")
    stale = RegionRouter(world.control_dsn, min_size=0)
    assert stale.region_of(tenant_id) == "APAC"  # cached before the move
    with world.admin_connect("APAC") as conn:
        doc = conn.execute("select version, doc_hash from odl.odl_documents where doc_id = %s",
                           (t["doc_id"],)).fetchone()
        events = conn.execute("select count(*) from odl.audit_events where tenant_id = %s",
                              (tenant_id,)).fetchone()[0]
    started = time.monotonic()
    migration = world.router.move_tenant(tenant_id, "EU")
    took = time.monotonic() - started
    t["region"], t["moved"] = "EU", True
    with psycopg.connect(world.control_dsn) as conn:
        states = [r[0] for r in conn.execute(
            "select state from odl_control.migration_log where migration_id = %s order by seq", (migration,))]
        detail = conn.execute("select detail from odl_control.migrations where migration_id = %s",
                              (migration,)).fetchone()[0]
        assert conn.execute("select region from odl_control.tenants where tenant_id = %s",
                            (tenant_id,)).fetchone()[0] == "EU"
    assert states == ["planned", "frozen", "copied", "verified", "flipped", "purged"]
    assert detail["rows"]["odl_document_versions"] == doc[0] and detail["audit"]["ok"] is True
    with world.admin_connect("EU") as conn:
        assert conn.execute("select version, doc_hash from odl.odl_documents where doc_id = %s",
                            (t["doc_id"],)).fetchone() == doc
        assert conn.execute("select region from odl.tenants where tenant_id = %s", (tenant_id,)).fetchone()[0] == "EU"
        # The chain came whole (with the source's tenant.moving) and grew at the target.
        assert conn.execute("select count(*) from odl.audit_events where tenant_id = %s",
                            (tenant_id,)).fetchone()[0] == events + 2
        assert conn.execute("select odl.odl_audit_verify(%s)", (tenant_id,)).fetchone()[0]["ok"] is True
    assert count(world, "APAC", "select count(*) from odl.tenants where tenant_id = %s", tenant_id) == 0
    # The router that still thinks APAC is refused there and follows the map.
    with stale.transaction(tenant_id, t["engineer"]) as odl:
        assert odl.head(t["doc_id"]).version == doc[0]
    assert stale.region_of(tenant_id) == "EU"
    stale.close()
    world.workload.patch(tenant_id, "after the move")
    assert count(world, "EU", "select odl.odl_audit_verify(%s)", tenant_id)["ok"] is True
    assert_every_row_at_home(world)
    print(f"moved a tenant APAC -> EU in {took:.2f} s")


def test_a_failed_move_leaves_the_tenant_at_home(world):
    tenant_id, t = tenant_of(world, "US")
    with world.admin_connect("EU") as conn:
        # A target that already holds a tenant of that id is refused at the copy.
        conn.execute("set session_replication_role = replica")
        conn.execute("insert into odl.tenants (tenant_id, name, region) values (%s, 'squatter', 'EU')", (tenant_id,))
    try:
        with pytest.raises(RegionError) as refused:
            world.router.move_tenant(tenant_id, "EU")
        assert refused.value.sqlstate == "ODW05"
    finally:
        with world.admin_connect("EU") as conn:
            conn.execute("delete from odl.tenants where tenant_id = %s", (tenant_id,))
    with psycopg.connect(world.control_dsn) as conn:
        assert conn.execute(
            "select m.state, t.region from odl_control.migrations as m join odl_control.tenants as t using (tenant_id) "
            "where m.tenant_id = %s order by m.migration_id desc limit 1", (tenant_id,)).fetchone() == ("failed", "US")
    assert count(world, "US", "select count(*) from odl.tenant_departures") == 0
    world.workload.patch(tenant_id, "after a failed move")


def test_a_move_stopped_after_its_flip_is_finished_later(world, monkeypatch):
    tenant_id, t = tenant_of(world, "EU")
    purge = regions_module._Move.purge

    def dies(self, src):
        raise RuntimeError("the mover died")

    monkeypatch.setattr(regions_module._Move, "purge", dies)
    with pytest.raises(RuntimeError):
        world.router.move_tenant(tenant_id, "US")
    monkeypatch.setattr(regions_module._Move, "purge", purge)
    t["region"], t["moved"] = "US", True
    with psycopg.connect(world.control_dsn) as conn:
        migration, state = conn.execute(
            "select migration_id, state from odl_control.migrations where tenant_id = %s "
            "order by migration_id desc limit 1", (tenant_id,)).fetchone()
    assert state == "flipped"
    # The source still holds the tenant, frozen: it writes only at the target.
    assert count(world, "EU", "select count(*) from odl.tenant_departures where tenant_id = %s", tenant_id) == 1
    world.workload.patch(tenant_id, "after the flip")
    world.router.finish_move(migration)
    assert count(world, "EU", "select count(*) from odl.tenants where tenant_id = %s", tenant_id) == 0
    with pytest.raises(RegionError) as refused:
        world.router.finish_move(migration)
    assert refused.value.sqlstate == "ODW07"
    assert_every_row_at_home(world)


def test_reports_across_regions_see_aggregates_only(world):
    report = {r.region: r for r in world.router.report()}
    assert set(report) == {*REGIONS, "ALL"}
    for region in REGIONS:
        assert report[region].tenants == count(world, region, "select count(*) from odl.tenants")
        assert report[region].versions == count(world, region, "select count(*) from odl.odl_document_versions")
        assert report[region].audit_events == count(world, region, "select count(*) from odl.audit_events")
    assert report["ALL"].tenants == len(homes(world)) == sum(report[r].tenants for r in REGIONS)
    assert report["ALL"].documents == len(world.workload.tenants)


def control_sqitch(command: str, dbname: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sqitch", "--chdir", "control", command, *args, "db:pg:"], cwd=TOP,
                          env=dict(os.environ, PGDATABASE=dbname), capture_output=True, text=True)


def test_the_control_plane_deploys_verifies_and_reverts():
    dbname = create_database("odl_control")
    try:
        assert control_sqitch("deploy", dbname).returncode == 0
        assert control_sqitch("verify", dbname).returncode == 0
        with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as conn:
            conn.execute("drop trigger tenants_map_guard on odl_control.tenants")
        assert control_sqitch("verify", dbname).returncode != 0
        with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as conn:
            conn.execute("create trigger tenants_map_guard before update on odl_control.tenants "
                         "for each row execute function odl_control.tenant_map_guard()")
        reverted = control_sqitch("revert", dbname, "-y")
        assert reverted.returncode == 0, reverted.stderr
        with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
            assert conn.execute("select count(*) from pg_namespace where nspname = 'odl_control'").fetchone()[0] == 0
        assert control_sqitch("deploy", dbname).returncode == 0
    finally:
        drop_database(dbname)
