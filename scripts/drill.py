"""The point-in-time restore drill, run by scripts/drill (`make drill`) and by
tests/python/test_drill.py.

1. A throwaway cluster A archives its WAL with pgBackRest into a fresh
   repository under the drill's work directory, encrypted with the repository
   cipher (aes-256-cbc) under a passphrase made for this drill alone: it lives
   in the drill's pgbackrest.conf (mode 600) and goes with the work directory.
2. A full backup of A; then odl-db is deployed into A with sqitch, so the
   restore replays the whole deploy from the archive.
3. A workload through the API (tenants, users, projects, documents, patches,
   audit events), every write a marker. Before the target: each tenant's audit
   digest (odl_audit_digest) and the row counts of the tables the drill checks.
   The target is a named restore point (pg_create_restore_point).
4. Markers after the target; pg_switch_wal() and a wait until that segment is
   archived (a restore cannot reach a target whose WAL is not archived); then
   a tail of writes that no archived WAL holds, and A is lost (immediate stop).
   The RPO is the time from the newest commit in the archive (pg_waldump of the
   last archived segment) to the last commit A acknowledged.
5. pgBackRest restores the backup into an empty directory B, to the restore
   point on the backup's timeline, and B is started (archive_mode off, so it
   never writes into the drill's repository) and promoted at the target. The
   RTO runs from the start of the restore to B accepting writes.
6. Checks on B: the counts at the target exactly, every marker written before
   the target present and none after it, documents at the version and hash
   they had, every tenant's audit chain verifying against the digest taken
   before (and its head at that digest's seq), and a digest taken after the
   target reporting the events the restore lost; every file of the repository
   encrypted; `pgbackrest verify` clean.

A fresh repository per drill means no timeline or history file of an earlier
restore can redirect this one. The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

STANZA = "odl-drill"
DATABASE = "odl"
CHECKED_TABLES = (
    "tenants", "users", "nodes", "rbac_assignments", "projects", "document_instances",
    "odl_documents", "odl_document_versions", "odl_patches", "audit_events")
AS_POSTGRES = os.geteuid() == 0


class DrillFailed(Exception):
    pass


def log(message: str) -> None:
    print(f"drill: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str, env: dict | None = None, check: bool = True, as_server_user: bool = False) -> subprocess.CompletedProcess:
    """Runs a command (as the postgres OS user when asked and we are root)."""
    command = list(args)
    if as_server_user and AS_POSTGRES:
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(command, cwd="/", env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise DrillFailed(f"{' '.join(args[:3])}... exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def own(path: Path, mode: int = 0o700) -> None:
    """A directory or file the server's OS user owns."""
    if AS_POSTGRES:
        shutil.chown(path, "postgres", "postgres")
    os.chmod(path, mode)


class Drill:
    def __init__(self, work: Path, port_a: int, port_b: int, pad_mb: int):
        self.work = work
        self.port_a, self.port_b = port_a, port_b
        self.pad_mb = pad_mb
        self.data_a, self.data_b = work / "a", work / "b"
        self.conf = work / "pgbackrest.conf"
        self.pg = (TOP / ".pgversion").read_text().strip()
        self.bin = Path(f"/usr/lib/postgresql/{self.pg}/bin")
        self.timings: dict[str, float] = {}
        self.result: dict = {"ok": False}

    # -- plumbing ------------------------------------------------------------

    def pgcluster(self, *args: str) -> None:
        env = dict(os.environ, PGCLUSTER_FAST="1")
        run(str(TOP / "scripts" / "pgcluster"), *args, env=env)

    def pgbackrest(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("pgbackrest", f"--config={self.conf}", f"--stanza={STANZA}", *args, check=check, as_server_user=True)

    def connect(self, port: int, dbname: str = DATABASE, user: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=port, dbname=dbname, user=user, **kwargs)

    def timed(self, name: str, started: float) -> float:
        self.timings[name] = round(time.monotonic() - started, 2)
        return self.timings[name]

    # -- 1. cluster A archiving into an encrypted repository ----------------

    def setup(self) -> None:
        started = time.monotonic()
        for sub in ("repo", "log", "lock", "spool", "wal"):
            (self.work / sub).mkdir()
            own(self.work / sub, 0o750)
        passphrase = secrets.token_urlsafe(48)  # this drill's only; never leaves the work directory
        self.conf.write_text(
            "[global]\n"
            f"repo1-path={self.work / 'repo'}\n"
            "repo1-cipher-type=aes-256-cbc\n"
            f"repo1-cipher-pass={passphrase}\n"
            "repo1-retention-full=1\n"
            f"log-path={self.work / 'log'}\n"
            f"lock-path={self.work / 'lock'}\n"
            f"spool-path={self.work / 'spool'}\n"
            "log-level-console=warn\n"
            "log-level-file=detail\n"
            "compress-type=lz4\n"
            "compress-level=1\n"
            "process-max=2\n"
            "start-fast=y\n"
            f"\n[{STANZA}]\n"
            f"pg1-path={self.data_a}\n"
            f"pg1-port={self.port_a}\n"
            f"pg1-socket-path={self.data_a}\n"
            "pg1-user=postgres\n"
        )
        own(self.conf, 0o600)
        self.pgcluster("start", str(self.data_a), str(self.port_a))
        archive_command = f"pgbackrest --config={self.conf} --stanza={STANZA} archive-push %p"
        with self.connect(self.port_a, "postgres", autocommit=True) as conn:
            conn.execute("alter system set wal_level = 'replica'")
            conn.execute("alter system set archive_mode = 'on'")
            conn.execute("alter system set archive_timeout = '60s'")
            conn.execute(f"alter system set archive_command = '{archive_command}'")
        self.pgcluster("stop", str(self.data_a))
        self.pgcluster("start", str(self.data_a), str(self.port_a))
        self.pgbackrest("stanza-create")
        if self.pad_mb:
            self.pad()
        self.timed("setup_s", started)

    def pad(self) -> None:
        """pad_mb of incompressible rows in a database of their own, so that
        the backup and the restore move that much more."""
        started = time.monotonic()
        with self.connect(self.port_a, "postgres", autocommit=True) as conn:
            conn.execute("create database drill_pad")
        with self.connect(self.port_a, "drill_pad", autocommit=True) as conn:
            conn.execute("create extension pgcrypto")
            conn.execute("create table pad (n bigint, filler bytea) with (toast_tuple_target = 8160)")
            conn.execute("alter table pad alter column filler set storage external")
            for chunk in range(0, self.pad_mb, 64):
                rows = min(64, self.pad_mb - chunk) * 128  # 8 KiB a row
                conn.execute(
                    "insert into pad select g, (select string_agg(gen_random_bytes(1024), ''::bytea)"
                    " from generate_series(1, 8) where g > 0) from generate_series(1, %s) as g",
                    (rows,),
                )
        log(f"padded the cluster with {self.pad_mb} MB in {time.monotonic() - started:.1f} s")

    # -- 2. full backup, then deploy ------------------------------------------

    def backup(self) -> None:
        started = time.monotonic()
        self.pgbackrest("backup", "--type=full")
        log(f"full backup in {self.timed('backup_s', started)} s")
        started = time.monotonic()
        with self.connect(self.port_a, "postgres", autocommit=True) as conn:
            conn.execute(f"create database {DATABASE}")
        env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(self.port_a), PGUSER="postgres", PGDATABASE=DATABASE)
        result = subprocess.run(["sqitch", "deploy", "db:pg:"], cwd=TOP, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise DrillFailed(f"sqitch deploy failed:\n{result.stdout}{result.stderr}")
        log(f"deployed odl-db after the backup in {self.timed('deploy_s', started)} s")

    # -- 3./4. workload, target, more writes, loss ----------------------------

    def workload(self) -> None:
        started = time.monotonic()
        self.admin = self.connect(self.port_a, autocommit=True)
        self.admin.execute("set role odl_admin")
        self.app = self.connect(self.port_a, user="odl_app", autocommit=True)
        self.tenants: dict[str, dict] = {}
        self.markers: dict[str, dict[str, set]] = {
            phase: {"tenants": set(), "patches": set(), "events": set(), "documents": set()}
            for phase in ("before", "after")
        }

        for i in range(3):
            self.new_tenant(f"drill-pre-{i}", "before", seed=i)
        for round_ in range(2):
            for name in list(self.tenants):
                self.patch(name, f"drill:before:{name}:{round_}", "before")
                self.event(name, f"before:{name}:{round_}", "before")

        # What the restore must give back exactly, then the target.
        self.digests = {
            name: self.admin.execute("select odl.odl_audit_digest(%s)", (t["tenant_id"],)).fetchone()[0]
            for name, t in self.tenants.items()
        }
        with self.connect(self.port_a) as conn:
            conn.execute("begin isolation level repeatable read")
            self.counts = self.count(conn)
            self.heads = dict(conn.execute("select doc_id, (version, doc_hash)::text from odl.odl_documents").fetchall())
            conn.rollback()
        self.target_name = f"odl_drill_{secrets.token_hex(4)}"
        with self.connect(self.port_a, autocommit=True) as conn:
            lsn, at = conn.execute(
                "select pg_create_restore_point(%s)::text, clock_timestamp()", (self.target_name,)
            ).fetchone()
        self.target = {"name": self.target_name, "lsn": lsn, "time": at.isoformat()}
        log(f"target: restore point {self.target_name} at {lsn} ({at.isoformat()})")

        self.new_tenant("drill-post-0", "after", seed=9)
        for name in list(self.tenants):
            self.patch(name, f"drill:after:{name}", "after")
            self.event(name, f"after:{name}", "after")

        # Digests of the chains as they stand after the target: the restore
        # loses those events, and verification must say so.
        self.late_digests = {
            name: self.admin.execute("select odl.odl_audit_digest(%s)", (self.tenants[name]["tenant_id"],)).fetchone()[0]
            for name in self.digests
        }

        # The known trap: the target's WAL must be in the archive.
        with self.connect(self.port_a, "postgres", autocommit=True) as conn:
            segment = conn.execute("select pg_walfile_name(pg_switch_wal())").fetchone()[0]
            deadline = time.monotonic() + 60
            while conn.execute("select coalesce(last_archived_wal, '') from pg_stat_archiver").fetchone()[0] < segment:
                if time.monotonic() > deadline:
                    raise DrillFailed(f"WAL segment {segment} (holding the target) was not archived within 60 s")
                time.sleep(0.1)
        log(f"WAL up to {segment} archived")

        # The tail: acknowledged commits in a segment never archived.
        tail_name = next(iter(self.tenants))
        for k in range(10):
            self.event(tail_name, f"after:tail:{k}", "after")
            time.sleep(0.1)
        self.last_ack = self.admin.execute("select clock_timestamp()").fetchone()[0]
        self.admin.close()
        self.app.close()
        run(str(self.bin / "pg_ctl"), "-D", str(self.data_a), "-m", "immediate", "stop", as_server_user=True)
        log(f"workload done in {self.timed('workload_s', started)} s; cluster A lost (immediate stop)")

    def count(self, conn: psycopg.Connection) -> dict[str, int]:
        return {t: conn.execute(f"select count(*) from odl.{t}").fetchone()[0] for t in CHECKED_TABLES}

    def call(self, name: str, user: str, query: str, params: tuple = ()):
        """One API call as a user of a tenant, in its own transaction."""
        tenant = self.tenants[name]
        with self.app.transaction():
            self.app.execute("select odl.odl_set_context(%s, %s)", (tenant["tenant_id"], tenant[user]))
            return self.app.execute(query, params).fetchone()[0]

    def new_tenant(self, name: str, phase: str, seed: int) -> None:
        tenant_id = self.admin.execute("select odl.odl_create_tenant(%s, 'EU')", (name,)).fetchone()[0]
        new_user = "select odl.odl_create_user(%s, %s, %s)"
        self.tenants[name] = t = {
            "tenant_id": tenant_id,
            "admin": self.admin.execute(new_user, (tenant_id, f"admin@{name}.example.com", "super_user")).fetchone()[0],
            "engineer": self.admin.execute(new_user, (tenant_id, f"eng@{name}.example.com", "engineer")).fetchone()[0],
        }
        node = self.call(name, "admin", "select odl.odl_create_node(null, 'PORTFOLIO', 'drill')")
        self.call(name, "admin", "select odl.odl_assign_role(%s, %s, 'super_user')", (t["engineer"], node))
        project = self.call(name, "engineer", "select odl.odl_create_project('drill')")
        self.call(name, "admin", "select odl.odl_attach_project(%s, %s)", (project, node))
        t["doc_id"] = self.call(
            name, "engineer", "select odl.odl_create_document(%s, %s)", (project, Jsonb(odlsd.generate(10_000, seed)))
        )
        t["version"] = 1
        self.markers[phase]["tenants"].add(name)
        self.markers[phase]["documents"].add(t["doc_id"])

    def patch(self, name: str, intent: str, phase: str) -> None:
        t = self.tenants[name]
        operation = {"op": "add", "path": "/meta/notes", "value": [intent]} if t["version"] == 1 else {
            "op": "add", "path": "/meta/notes/-", "value": intent}
        version = self.call(
            name, "engineer", "select version from odl.odl_apply_patch(%s, %s, %s, intent => %s)",
            (t["doc_id"], Jsonb([operation]), t["version"], intent),
        )
        t["version"] = version
        self.markers[phase]["patches"].add(intent)

    def event(self, name: str, marker: str, phase: str) -> None:
        self.call(name, "engineer", "select odl.odl_audit_log('drill.marker', %s)", (Jsonb({"marker": marker}),))
        self.markers[phase]["events"].add(marker)

    # -- RPO ---------------------------------------------------------------------

    def rpo(self) -> None:
        """From the newest commit the archive holds to the last one A acknowledged."""
        info = json.loads(self.pgbackrest("info", "--output=json").stdout)
        archive = info[0]["archive"][0]
        segments = [archive["max"]]
        newest_commit = None
        rpo_dir = self.work / "wal"
        while newest_commit is None and segments[-1] >= archive["min"]:
            segment = segments[-1]
            target = rpo_dir / segment
            self.pgbackrest("archive-get", segment, str(target))
            dump = run(str(self.bin / "pg_waldump"), str(target), check=False, env=dict(os.environ, TZ="UTC"))
            commits = re.findall(r"desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC", dump.stdout)
            if commits:
                newest_commit = datetime.datetime.fromisoformat(commits[-1]).replace(tzinfo=datetime.timezone.utc)
            else:
                timeline, log_id, seg = segment[:8], int(segment[8:16], 16), int(segment[16:], 16)
                if seg == 0 and log_id == 0:
                    break
                log_id, seg = (log_id, seg - 1) if seg else (log_id - 1, 255)
                segments.append(f"{timeline}{log_id:08X}{seg:08X}")
        if newest_commit is None:
            raise DrillFailed("no commit found in the archived WAL")
        self.result["rpo_s"] = round((self.last_ack - newest_commit).total_seconds(), 2)
        self.result["newest_archived_commit"] = newest_commit.isoformat()
        self.result["last_acknowledged_commit"] = self.last_ack.isoformat()

    # -- 5. restore into B -------------------------------------------------------

    def restore(self) -> None:
        self.data_b.mkdir()
        own(self.data_b)
        started = time.monotonic()
        self.pgbackrest(
            "restore", f"--pg1-path={self.data_b}", "--type=name", f"--target={self.target_name}",
            "--target-action=promote", "--target-timeline=current",
        )
        restored = self.timed("restore_files_s", started)
        # B must never archive into the drill's repository (nor anywhere).
        with open(self.data_b / "postgresql.auto.conf", "a") as conf:
            conf.write("archive_mode = 'off'\n")
        self.pgcluster("start", str(self.data_b), str(self.port_b))
        deadline = time.monotonic() + 300
        with self.connect(self.port_b, "postgres", autocommit=True) as conn:
            while conn.execute("select pg_is_in_recovery()").fetchone()[0]:
                if time.monotonic() > deadline:
                    raise DrillFailed("cluster B did not finish recovery within 300 s")
                time.sleep(0.05)
            conn.execute("create temporary table drill_write_probe (x int)")  # accepts writes
        self.result["rto_s"] = self.timed("rto_s", started)
        self.result["restored_bytes"] = sum(f.stat().st_size for f in self.data_b.rglob("*") if f.is_file())
        log(f"restored in {self.result['rto_s']} s (files {restored} s, then recovery to the target and promotion)")
        server_log = (self.data_b / "server.log").read_text(errors="replace")
        if f'recovery stopping at restore point "{self.target_name}"' not in server_log:
            raise DrillFailed(f"cluster B's log does not show recovery stopping at {self.target_name}")

    # -- 6. checks -----------------------------------------------------------------

    def check(self) -> list[str]:
        problems: list[str] = []
        if self.result["newest_archived_commit"] <= self.target["time"]:
            problems.append("the archive holds no commit after the target: the restore proves nothing about stopping")
        with self.connect(self.port_b) as conn:
            counts = self.count(conn)
            if counts != self.counts:
                problems.append(f"row counts at the target were {self.counts}, restored {counts}")
            found = {
                "tenants": {r[0] for r in conn.execute("select name from odl.tenants")},
                "documents": {r[0] for r in conn.execute("select doc_id from odl.odl_documents")},
                "patches": {r[0] for r in conn.execute("select intent from odl.odl_patches where intent is not null")},
                "events": {
                    r[0] for r in conn.execute(
                        "select payload ->> 'marker' from odl.audit_events where action = 'app.drill.marker'")
                },
            }
            for kind, markers in self.markers["before"].items():
                if missing := markers - found[kind]:
                    problems.append(f"{kind} written before the target are missing: {sorted(missing)}")
            for kind, markers in self.markers["after"].items():
                if present := markers & found[kind]:
                    problems.append(f"{kind} written after the target are present: {sorted(present)}")
            heads = dict(conn.execute("select doc_id, (version, doc_hash)::text from odl.odl_documents").fetchall())
            if heads != self.heads:
                problems.append(f"document heads differ from the target's: {heads} != {self.heads}")
            conn.execute("set role odl_admin")
            verified = 0
            for (tenant_id,) in conn.execute("select tenant_id from odl.tenants").fetchall():
                name = next(n for n, t in self.tenants.items() if t["tenant_id"] == tenant_id)
                digest = self.digests.get(name)
                result = conn.execute(
                    "select odl.odl_audit_verify(%s, %s)", (tenant_id, Jsonb(digest) if digest else None)
                ).fetchone()[0]
                head = conn.execute("select odl.odl_audit_digest(%s) ->> 'seq'", (tenant_id,)).fetchone()[0]
                if not result["ok"]:
                    problems.append(f"audit chain of {name} fails after the restore: {result}")
                elif digest is None or int(head) != digest["seq"]:
                    problems.append(f"audit chain of {name} ends at seq {head}, its digest before the target at "
                                    f"{digest and digest['seq']}")
                else:
                    verified += 1
                if name in self.late_digests:
                    late = conn.execute(
                        "select odl.odl_audit_verify(%s, %s)", (tenant_id, Jsonb(self.late_digests[name]))
                    ).fetchone()[0]
                    if (late["ok"], late["reason"], late["first_broken_seq"]) != (False, "event missing", digest["seq"] + 1):
                        problems.append(f"a digest taken after the target should find events missing at seq "
                                        f"{digest['seq'] + 1} of {name}, verification said {late}")
            conn.rollback()
        self.result["chains_verified"] = verified

        # Every file of the repository encrypted (OpenSSL's salted format);
        # none holds a marker in the clear.
        plain = []
        for path in (self.work / "repo").rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if not data.startswith(b"Salted__") or b"drill-pre-" in data:
                    plain.append(str(path.relative_to(self.work)))
        if plain:
            problems.append(f"repository files not encrypted: {plain[:5]}")
        self.result["repository_files"] = sum(1 for p in (self.work / "repo").rglob("*") if p.is_file())

        started = time.monotonic()
        verify = self.pgbackrest("verify", "--output=text", "--verbose", check=False)
        self.timed("verify_s", started)
        tallies = re.findall(r"missing: (\d+), checksum invalid: (\d+), size invalid: (\d+), other: (\d+)", verify.stdout)
        clean = (
            verify.returncode == 0
            and re.search(r"^status: ok$", verify.stdout, re.M)
            and re.search(r"backup: \S+, status: valid", verify.stdout)
            and len(tallies) >= 2
            and all(n == "0" for tally in tallies for n in tally)
        )
        if not clean:
            problems.append(f"pgbackrest verify is not clean (exit {verify.returncode}):\n{verify.stdout}{verify.stderr}")
        self.result["verify"] = [line.strip() for line in verify.stdout.splitlines() if "total" in line]
        return problems

    def execute(self) -> None:
        started = time.monotonic()
        self.setup()
        self.backup()
        self.workload()
        self.rpo()
        self.restore()
        problems = self.check()
        self.timed("total_s", started)
        self.result.update(
            ok=not problems, target=self.target, counts=self.counts, timings=self.timings,
            cipher="aes-256-cbc", pg=self.pg,
        )
        log(f"RPO {self.result['rpo_s']} s: acknowledged commits not yet in an archived WAL segment "
            f"(archive_timeout = 60 s bounds it)")
        log(f"RTO {self.result['rto_s']} s for {self.result['restored_bytes'] / 1e6:.0f} MB "
            "(restore, recovery to the target, promotion)")
        for problem in problems:
            log(f"FAILED: {problem}")
        if not problems:
            log(f"ok: {sum(self.counts.values())} rows at the target restored exactly, "
                f"{sum(len(m) for m in self.markers['before'].values())} markers before it present, "
                f"{sum(len(m) for m in self.markers['after'].values())} after it absent, "
                f"{self.result['chains_verified']} audit chains verified against their digests, "
                f"{self.result['repository_files']} repository files encrypted, pgbackrest verify clean")

    def stop(self) -> None:
        for data in (self.data_b, self.data_a):
            if (data / "PG_VERSION").exists():
                subprocess.run([str(TOP / "scripts" / "pgcluster"), "stop", str(data)], capture_output=True)


def record(conninfo: str, result: dict) -> int:
    """Records the drill's result in the monitored database (odl_record_backup(),
    as a login in odl_admin), where odl_health() and odl.ops_backups read it."""
    details = {k: v for k, v in result.items() if k not in ("ok", "finished_at")}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(
            "select odl.odl_record_backup('drill', %s, %s, %s::jsonb)",
            (bool(result.get("ok")), result["finished_at"], json.dumps(details, default=str)),
        ).fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(prog="drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", help="work directory (must not exist or be empty); default: a new one under /tmp")
    parser.add_argument("--ports", help="two ports, A,B; default: free ones (DRILL_PORTS too)",
                        default=os.environ.get("DRILL_PORTS"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory (clusters stopped)")
    parser.add_argument("--pad-mb", type=int, default=0, help="pad cluster A with this many MB before the backup")
    parser.add_argument("--result", help="also write the JSON summary to this file (for monitoring the last drill)")
    parser.add_argument("--record", metavar="CONNINFO",
                        help="record the result in this odl-db database (odl_record_backup(), a login in odl_admin)")
    args = parser.parse_args()

    if shutil.which("pgbackrest") is None:
        print("drill: pgbackrest is not installed (run scripts/install-deps)", file=sys.stderr)
        return 2
    if args.work:
        work = Path(args.work).resolve()
        work.mkdir(parents=True, exist_ok=True)
        if any(work.iterdir()):
            print(f"drill: {work} is not empty", file=sys.stderr)
            return 2
    else:
        work = Path(tempfile.mkdtemp(prefix="odl-drill-", dir="/tmp"))
    os.chmod(work, 0o755)
    if args.ports:
        port_a, port_b = map(int, args.ports.split(","))
    else:
        port_a = port_b = free_port()
        while port_b == port_a:
            port_b = free_port()
    drill = Drill(work, port_a, port_b, args.pad_mb)
    log(f"work directory {work}, clusters on ports {port_a} and {port_b}")
    try:
        drill.execute()
    except (DrillFailed, psycopg.Error, OSError) as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
    finally:
        drill.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    drill.result["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    summary = json.dumps(drill.result, sort_keys=True, default=str)
    if args.result:
        Path(args.result).write_text(summary + "\n")
    print(summary, flush=True)
    if args.record:
        try:
            record(args.record, drill.result)
        except psycopg.Error as exc:
            log(f"could not record the result: {exc}")
            return 1
    return 0 if drill.result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
