"""Three regional clusters and a control plane on this machine (`make regions`,
tests/python/test_regions.py).

1. Four throwaway clusters (scripts/pgcluster, FAST mode): US, EU, APAC and
   the control plane. Each regional cluster gets database odl, deployed with
   `sqitch deploy --set region=XX`; the control plane gets odl_control,
   deployed from control/ (its own sqitch project). The deploys run side by
   side. Everything is created only when missing, so a second run reuses it.
2. The control plane learns each region's connection strings.
3. A mixed workload through odl_client.RegionRouter: tenants in every region,
   their users, projects, documents, patches and audit events, interleaved
   across regions; a write sent to the wrong region, which must be refused.
4. Per-region totals (odl_region_report() in each region, added up by the
   router) and the rows of each tenant per region, as JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))
sys.path.insert(0, str(TOP / "client"))
from fixtures import odlsd  # noqa: E402
from odl_client import RegionError, RegionRouter  # noqa: E402

REGIONS = ("US", "EU", "APAC")
DATABASE = "odl"
CONTROL_DATABASE = "odl_control"


def log(message: str) -> None:
    print(f"regions: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dsn(port: int, dbname: str, user: str) -> str:
    return f"host=127.0.0.1 port={port} dbname={dbname} user={user}"


class Regions:
    """The clusters under work/, one directory per region and one for the control plane."""

    def __init__(self, work: Path, ports: dict[str, int]) -> None:
        self.work = work
        self.ports = ports  # US, EU, APAC, CONTROL

    def data(self, name: str) -> Path:
        return self.work / name.lower()

    def env(self, port: int, dbname: str) -> dict[str, str]:
        return dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(port), PGUSER="postgres", PGDATABASE=dbname,
                    PGCLUSTER_FAST="1")

    def run(self, *commands: tuple[str, list[str], dict[str, str], Path]) -> None:
        """Runs commands side by side: (name, argv, env, cwd) each."""
        processes = [(name, subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True))
                     for name, argv, env, cwd in commands]
        for name, process in processes:
            output, _ = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"{name} failed:\n{output}")

    def pgcluster(self, name: str, *args: str) -> tuple[str, list[str], dict[str, str], Path]:
        return (f"pgcluster {args[0]} {name}", [str(TOP / "scripts" / "pgcluster"), args[0], str(self.data(name)),
                                                *args[1:]], self.env(self.ports[name], "postgres"), TOP)

    def create_database(self, port: int, dbname: str) -> None:
        with psycopg.connect(dsn(port, "postgres", "postgres"), autocommit=True) as conn:
            if not conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone():
                conn.execute(f'create database "{dbname}"')

    def deploy(self, region: str) -> tuple[str, list[str], dict[str, str], Path]:
        return (f"sqitch deploy into {region}", ["sqitch", "deploy", "--set", f"region={region}", "db:pg:"],
                self.env(self.ports[region], DATABASE), TOP)

    def deploy_control(self) -> tuple[str, list[str], dict[str, str], Path]:
        return ("sqitch deploy of the control plane", ["sqitch", "--chdir", "control", "deploy", "db:pg:"],
                self.env(self.ports["CONTROL"], CONTROL_DATABASE), TOP)

    def start(self) -> None:
        """Four clusters, each deployed on its own (`make regions`)."""
        started = time.monotonic()
        self.work.mkdir(parents=True, exist_ok=True)
        names = (*REGIONS, "CONTROL")
        self.run(*(self.pgcluster(n, "start", str(self.ports[n])) for n in names))
        for name in names:
            self.create_database(self.ports[name], CONTROL_DATABASE if name == "CONTROL" else DATABASE)
        self.run(*(self.deploy(r) for r in REGIONS), self.deploy_control())
        self.register()
        log(f"{len(names)} clusters started and deployed in {time.monotonic() - started:.1f} s")

    def start_cloned(self) -> None:
        """For the tests, faster on a busy machine: US is deployed (with
        --set region=US) and holds the control plane; EU and APAC start from
        copies of its data directory, then get their region and keys of their
        own, so that no two regions share a secret."""
        started = time.monotonic()
        self.ports["CONTROL"] = self.ports["US"]
        self.work.mkdir(parents=True, exist_ok=True)
        self.run(self.pgcluster("US", "start", str(self.ports["US"])))
        self.create_database(self.ports["US"], DATABASE)
        self.create_database(self.ports["US"], CONTROL_DATABASE)
        self.run(self.deploy("US"), self.deploy_control())
        self.run(self.pgcluster("US", "stop"))
        for region in REGIONS[1:]:
            subprocess.run(["cp", "-a", str(self.data("US")), str(self.data(region))], check=True)
        self.run(*(self.pgcluster(r, "start", str(self.ports[r])) for r in REGIONS))
        for region in REGIONS[1:]:
            with psycopg.connect(dsn(self.ports[region], "postgres", "postgres"), autocommit=True) as conn:
                conn.execute(f'drop database "{CONTROL_DATABASE}"')
            with self.admin_connect(region) as conn:
                conn.execute("update odl.settings set value = %s where name = 'region'", (region,))
                conn.execute("select odl.make_identity_key('context'), odl.make_identity_key('token'), "
                             "odl.odl_audit_rotate_key()")
        self.register()
        log(f"3 clusters (EU and APAC copied from US) started and deployed in {time.monotonic() - started:.1f} s")

    def register(self) -> None:
        with psycopg.connect(self.control_dsn, autocommit=True) as conn:
            for r in REGIONS:
                conn.execute(
                    """
                    insert into odl_control.regions (region, dsn, admin_dsn) values (%s, %s, %s)
                    on conflict (region) do update set dsn = excluded.dsn, admin_dsn = excluded.admin_dsn
                    """,
                    (r, dsn(self.ports[r], DATABASE, "odl_app"), dsn(self.ports[r], DATABASE, "postgres")),
                )

    def stop(self) -> None:
        for name in (*REGIONS, "CONTROL"):
            if not self.data(name).exists():
                continue
            subprocess.run([str(TOP / "scripts" / "pgcluster"), "stop", str(self.data(name))], capture_output=True)

    @property
    def control_dsn(self) -> str:
        return dsn(self.ports["CONTROL"], CONTROL_DATABASE, "postgres")

    def admin_connect(self, region: str) -> psycopg.Connection[Any]:
        return psycopg.connect(dsn(self.ports[region], DATABASE, "postgres"), autocommit=True)

    def tenant_rows(self) -> dict[str, dict[str, int]]:
        """Per region, the rows of each tenant across every table with a tenant_id column."""
        found: dict[str, dict[str, int]] = {}
        for region in REGIONS:
            with self.admin_connect(region) as conn:
                found[region] = rows_per_tenant(conn)
        return found


def tenant_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Every table (partitions and pg_partman's templates included) with a tenant_id column."""
    return [r[0] for r in conn.execute(
        """
        select c.oid::regclass::text
        from pg_class as c
        join pg_attribute as a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
        where c.relkind in ('r', 'p')
            and c.relnamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
        order by 1
        """
    ).fetchall()]


def rows_per_tenant(conn: psycopg.Connection[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in tenant_tables(conn):
        # "only": a partitioned table's rows are counted in its partitions.
        for tenant_id, n in conn.execute(f"select tenant_id::text, count(*) from only {table} group by 1"):
            counts[tenant_id] = counts.get(tenant_id, 0) + n
    return counts


class Workload:
    """Tenants, users, projects, documents, patches and audit events, through the router."""

    def __init__(self, router: RegionRouter) -> None:
        self.router = router
        self.tenants: dict[str, dict[str, Any]] = {}

    def call(self, tenant_id: str, user: str, query: str, params: tuple[Any, ...] = ()) -> Any:
        t = self.tenants[tenant_id]
        with self.router.transaction(tenant_id, t[user]) as odl:
            row = odl.connection.execute(query, params).fetchone()
        return row[0] if row else None

    def new_tenant(self, name: str, region: str, seed: int) -> str:
        tenant_id = self.router.create_tenant(name, region)
        with self.router.admin(region) as admin:
            self.tenants[tenant_id] = t = {
                "region": region, "name": name,
                "admin": admin.create_user(tenant_id, f"admin@{name}.example.com", "super_user"),
                "engineer": admin.create_user(tenant_id, f"eng@{name}.example.com", "engineer"),
            }
        node = self.call(tenant_id, "admin", "select odl.odl_create_node(null, 'PORTFOLIO', %s)", (name,))
        self.call(tenant_id, "admin", "select odl.odl_assign_role(%s, %s, 'super_user')", (t["engineer"], node))
        project = self.call(tenant_id, "engineer", "select odl.odl_create_project(%s)", (name,))
        self.call(tenant_id, "admin", "select odl.odl_attach_project(%s, %s)", (project, node))
        t["doc_id"] = self.call(tenant_id, "engineer", "select odl.odl_create_document(%s, %s)",
                                (project, Jsonb(odlsd.generate(10_000, seed))))
        t["version"] = 1
        return tenant_id

    def patch(self, tenant_id: str, note: str) -> None:
        t = self.tenants[tenant_id]
        operation = {"op": "add", "path": "/meta/notes", "value": [note]} if t["version"] == 1 else {
            "op": "add", "path": "/meta/notes/-", "value": note}
        t["version"] = self.call(
            tenant_id, "engineer", "select version from odl.odl_apply_patch(%s, %s, %s, intent => %s)",
            (t["doc_id"], Jsonb([operation]), t["version"], note),
        )
        self.call(tenant_id, "engineer", "select odl.odl_audit_log('regions.marker', %s)", (Jsonb({"note": note}),))

    def run(self, tenants_per_region: int = 2, rounds: int = 2, run_id: str = "") -> None:
        seed = len(self.tenants)
        for k in range(tenants_per_region):
            for region in REGIONS:
                self.new_tenant(f"{region.lower()}-{run_id}{k}", region, seed)
                seed += 1
        for r in range(rounds):
            for tenant_id in list(self.tenants):
                self.patch(tenant_id, f"round {r}")

    def misrouted_write(self) -> str | None:
        """A write for a tenant sent to another region's database: the SQLSTATE it got."""
        tenant_id, t = next(iter(self.tenants.items()))
        wrong = next(r for r in REGIONS if r != t["region"])
        try:
            with self.router.region_pool(wrong).transaction(tenant_id, t["engineer"]) as odl:
                odl.audit_log("regions.misrouted", {"to": wrong})
        except RegionError as error:
            return error.sqlstate
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("REGIONS_DIR", "/tmp/odl-regions")))
    parser.add_argument("--ports", default=os.environ.get("REGIONS_PORTS", "54421,54422,54423,54424"),
                        help="US,EU,APAC,CONTROL")
    parser.add_argument("--tenants", type=int, default=2, help="tenants per region and run")
    parser.add_argument("--stop", action="store_true", help="stop the four clusters at the end")
    args = parser.parse_args()
    ports = dict(zip((*REGIONS, "CONTROL"), (int(p) for p in args.ports.split(","))))
    regions = Regions(args.work, ports)
    try:
        regions.start()
        with RegionRouter(regions.control_dsn) as router:
            workload = Workload(router)
            started = time.monotonic()
            workload.run(args.tenants, run_id=f"{int(time.time()) % 100000}-")
            log(f"workload: {len(workload.tenants)} tenants in {time.monotonic() - started:.1f} s")
            refused = workload.misrouted_write()
            log(f"a write sent to the wrong region: {refused or 'NOT REFUSED'}")
            report = router.report()
        with psycopg.connect(regions.control_dsn) as conn:
            homes = dict(conn.execute("select tenant_id, region from odl_control.tenants").fetchall())
        rows = regions.tenant_rows()
        outside = {region: sum(n for t, n in found.items() if homes.get(t) != region)
                   for region, found in rows.items()}
        for r in report:
            log(f"{r.region:>4}: {r.tenants} tenants, {r.users} users, {r.projects} projects, "
                f"{r.documents} documents, {r.versions} versions, {r.audit_events} audit events")
        log(f"rows outside their tenant's home region: {outside}")
        ok = refused == "ODW03" and not any(outside.values())
        print(json.dumps({"ok": ok, "refused": refused, "outside": outside,
                          "report": [r.__dict__ for r in report], "ports": ports}))
        if not args.stop:
            log(f"clusters left running under {args.work}; stop them with "
                f"`for d in us eu apac control; do scripts/pgcluster stop {args.work}/$d; done`")
        return 0 if ok else 1
    finally:
        if args.stop:
            regions.stop()


if __name__ == "__main__":
    sys.exit(main())
