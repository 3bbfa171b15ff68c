"""Document store: what writing, keeping and reading ODL-SD documents costs.

Documents of 10 KB, 1 MB and 10 MB from two generators, the project's
fixture (fixtures/odlsd.py) and a float-heavy one (fixtures/odlsd_floats.py,
numbers spelled like 2.50, 100.0, 0.00005, 1E-7). One run, each comparison
against a baseline measured in the same run, interleaved with it:

1. Patch latency: a ten-operation patch through odl_apply_patch() (rights,
   validation, hashing, history and audit on), against the floor: ONE
   `jsonb_set` UPDATE of a plain table holding the same document
   (`bench.plain_docs`, default settings: default TOAST compression, no
   index but the primary key); for information also against the same
   table with an lz4 column, the first patch of a document in a fresh
   backend (the cache miss) and patches from two backends taking turns. After the rounds the stored document must
   equal, as jsonb text, the document the client computes with the
   jsonpatch library, and doc_hash must be its RFC 8785 hash (the rfc8785
   package, not odl_db.canonical).
2. The same patch applied the way an application would without odl-db:
   fetch, jsonpatch, jsonschema, write back (the fixture, 10 KB and 1 MB).
3. History: patches around the 5,000th of a document against its first
   ones; what 1,000 patches to a 1 MB document leave on disk; reading back
   past versions, against the floor.
4. Throughput: 4 clients patching 10 KB documents of their own, in one
   tenant and in four, against 4 clients running plain primary-key updates.
5. Memory: the backend's private memory (RssAnon) before and after it
   patched a 1 MB and a 10 MB document, reported, not judged.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonpatch as jsonpatch_lib
import jsonschema
import psycopg
import rfc8785
from psycopg.types.json import Jsonb

from harness import Context, Row, Section, Stopwatch, compare, one_cpu

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "fixtures"))

import odlsd  # noqa: E402
import odlsd_floats  # noqa: E402

TITLE = "Document store"

# ODL_BENCH_QUICK=1: a smoke run of every step (small sizes, few rounds);
# its numbers are marked as such and mean nothing.
QUICK = os.environ.get("ODL_BENCH_QUICK") == "1"

GENERATORS = {"fixture": odlsd.generate, "floats": odlsd_floats.generate}
GENERATOR_NAMES = {"fixture": "the project's fixture", "floats": "float-heavy"}
SIZES = {"10 KB": 10_000, "1 MB": 1_000_000, "10 MB": 10_000_000}
SEED = 7
# Timed rounds of item 1 per document, after one warm-up round; each round
# runs every side once in shuffled order.
ROUNDS = {"10 KB": 40, "1 MB": 16, "10 MB": 10}
# Fresh backends per document for the cache miss (and the memory of item 5);
# each patches the document 1 + AFTER_MISS times.
MISS_ROUNDS = {"10 KB": 5, "1 MB": 3, "10 MB": 2}
AFTER_MISS = 3
# Rounds per document of a patch that adds an instance and a connection, then
# one that removes them again (where the instances projection re-reads the
# whole array), at these sizes.
GROWTH_ROUNDS = 3
GROWTH_SIZES = ("10 KB", "1 MB")
APP_SIZES = ("10 KB", "1 MB")   # item 2, on the fixture
LONG_HISTORY = 5_000            # patches to the 10 KB document of item 3
WINDOW = 11                     # patches measured from the 1st and around the 5,000th
GUARD_CALLS = 200               # calls per timed loop of the limit checks (issue 10)
SIZE_HISTORY = 1_000            # patches to the 1 MB document whose history is weighed
SIZE_BUDGET_MB = 50.0
MIDDLE_VERSIONS = tuple(range(50, SIZE_HISTORY, 100))    # 50 patches from a snapshot
AFTER_SNAPSHOT_VERSIONS = tuple(range(101, SIZE_HISTORY, 100))  # one patch from a snapshot
READ_ROUNDS = 2
CLIENTS = 4
SLOT_SECONDS = 4.0
SLOTS = 3                       # rounds of (plain, one tenant, four tenants), shuffled
WARMUP_SECONDS = 1.0            # per side, in a first round that is not counted
if QUICK:
    SIZES = {"10 KB": 10_000, "1 MB": 1_000_000}
    ROUNDS = {"10 KB": 5, "1 MB": 3}
    MISS_ROUNDS = {"10 KB": 1, "1 MB": 1}
    GROWTH_ROUNDS = 1
    LONG_HISTORY, SIZE_HISTORY = 60, 120
    MIDDLE_VERSIONS, AFTER_SNAPSHOT_VERSIONS = (50,), (101,)
    SLOT_SECONDS, SLOTS = 1.0, 1

GOALS = {
    "floor": {"10 KB": 3.0, "1 MB": 2.0, "10 MB": 2.0},  # odl_apply_patch / plain jsonb_set update
    "app": 0.2,            # odl-db transaction / application-side patch, at 1 MB
    "history": 1.10,       # patches around the 5,000th / patches 1 to WINDOW
    "size": 1.0,           # what the history adds on disk / SIZE_BUDGET_MB
    "read": 5.0,           # odl_get_document(id, v) / floor update at 1 MB
    "throughput": 4.0,     # wall time per write, odl-db / plain: 25% of the throughput
}

STATUSES = ("planned", "procured", "installed", "commissioned", "operational", "maintenance", "decommissioned")
KINDS = (
    "dc_power", "ac_power", "data_modbus", "data_can", "data_ethernet",
    "control_digital", "control_analog", "thermal_liquid", "thermal_air",
)
EPOCH = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)

APPLY = "select version, doc_hash, inverse_patch from odl.odl_apply_patch(%s, %s, %s)"
SET_CONTEXT = "select odl.odl_set_context(%s, %s)"
FLOOR = "update {table} set doc = jsonb_set(doc, '{{finance,opex_per_year}}', to_jsonb(%s::int)) where id = %s"
APP_FETCH = "select doc, version from bench.app_docs where id = %s"
APP_WRITE = "update bench.app_docs set doc = %s, version = version + 1 where id = %s and version = %s"
PLAIN = "update bench.plain set doc = jsonb_set(doc, '{finance,opex_per_year}', to_jsonb(%s::int)) where id = %s"
WAL = "select pg_current_wal_insert_lsn()"

SETUP = """
create schema bench;
-- The floor: a plain table as anyone would create it (default TOAST
-- compression, no index but the primary key) ...
create table bench.plain_docs (id integer primary key, doc jsonb not null);
-- ... and the same with lz4, to show what lz4 alone buys.
create table bench.plain_lz4 (id integer primary key, doc jsonb compression lz4 not null);
create table bench.app_docs (id integer primary key, doc jsonb not null, version integer not null);
create table bench.plain (id integer primary key, doc jsonb not null);
"""


def dumps(value: Any) -> str:
    """Compact JSON that writes Decimals as spelled (see odlsd_floats)."""
    return odlsd_floats.dumps(value)


def rfc8785_hash(text: str) -> str:
    """The ODL-SD content hash of JSON text, by the rfc8785 package: every
    number read as a double, as RFC 8785 requires."""
    return "sha256:" + hashlib.sha256(rfc8785.dumps(json.loads(text))).hexdigest()


class Patches:
    """Ten-operation patches over six sections of one document, each valid
    against the version the previous ones left.

    Every patch tests schema_version; replaces the lifecycle_status of three
    instances spread over the document, the elevation of a fourth and the
    kind of a connection; adds meta/timestamps/updated_at; replaces
    analysis/0/p50_mwh and esg/land_use_ha; and adds a work order to
    operations (even patches) or removes it again (odd ones), so that the
    document keeps its size. The three numbers are Decimals written with
    trailing zeros (`617.30`, `98123.50`, `95.0`), which the store must keep.
    Values come from a counter that starts at `offset`, so every version
    differs from every other, also from those of other documents, and the
    server never answers from a cache of validation results keyed by
    content; with `toggle`, the counter alternates between offset and
    offset + 1, so that from the 4th patch on the versions alternate
    between two contents.
    """

    def __init__(self, doc: dict, offset: int, toggle: bool = False):
        self.instances = len(doc["instances"])
        self.connections = len(doc["connections"])
        self.work_order = len(doc["operations"]["work_orders"])
        self.offset = offset
        self.toggle = toggle
        self.count = 0

    def next(self) -> list[dict]:
        i = self.count
        self.count += 1
        n = self.offset + (i % 2 if self.toggle else i)
        stamp = (EPOCH + datetime.timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch: list[dict] = [{"op": "test", "path": "/schema_version", "value": "4.1"}]
        for j in range(3):
            index = (j * self.instances // 3 + n * 7) % self.instances
            patch.append({"op": "replace", "path": f"/instances/{index}/lifecycle_status",
                          "value": STATUSES[(n + j) % len(STATUSES)]})
        patch += [
            {"op": "replace", "path": f"/instances/{n * 11 % self.instances}/location/elevation_m",
             "value": Decimal(f"{600 + n % 40}.{n % 10}0")},
            {"op": "replace", "path": f"/connections/{n * 13 % self.connections}/kind",
             "value": KINDS[n % len(KINDS)]},
            {"op": "add", "path": "/meta/timestamps/updated_at", "value": stamp},
            # Not finance: a change there waits for an approver (odl.rbac_approval_sections).
            {"op": "add", "path": "/operations/work_orders/-",
             "value": {"id": f"WO-B{n:06d}", "status": "open", "opened_at": stamp, "summary": "bench check"}}
            if i % 2 == 0 else {"op": "remove", "path": f"/operations/work_orders/{self.work_order}"},
            {"op": "replace", "path": "/analysis/0/p50_mwh", "value": Decimal(f"{98000 + n}.50")},
            {"op": "replace", "path": "/esg/land_use_ha", "value": Decimal(f"{90 + n % 1000}.0")},
        ]
        return patch


class Document:
    """A document written through the API, which tracks its version; with
    `text`, it also keeps every patch it sent, for check_exact()."""

    def __init__(self, conn: psycopg.Connection, context: tuple[str, str], doc_id: str, doc: dict,
                 offset: int, toggle: bool = False, text: str | None = None):
        self.conn = conn
        self.context = context
        self.doc_id = doc_id
        self.version = 1
        self.offset = offset
        self.patches = Patches(doc, offset, toggle)
        self.text = text
        self.sent: list[list[dict]] = []

    def patch(self, conn: psycopg.Connection | None = None, patch: list | None = None) -> tuple[float, float]:
        """One patch (default: the next of the document's sequence) in its
        own transaction, on `conn` (default: the document's connection);
        returns (seconds of the odl_apply_patch statement and the commit,
        seconds of the whole transaction with odl_set_context)."""
        conn = conn or self.conn
        patch = patch or self.patches.next()
        cur = conn.cursor()
        started = time.perf_counter()
        cur.execute(SET_CONTEXT, self.context, prepare=True)
        statement = time.perf_counter()
        cur.execute(APPLY, (self.doc_id, Jsonb(patch, dumps=dumps), self.version), prepare=True)
        version, _, _ = cur.fetchone()
        conn.commit()
        done = time.perf_counter()
        if version != self.version + 1:
            raise RuntimeError(f"odl_apply_patch returned version {version} after {self.version}")
        self.version = version
        if self.text is not None:
            self.sent.append(patch)
        return done - statement, done - started


class Floor:
    """One update with one jsonb_set of a row of a plain table, in a
    transaction of the same shape as the API's."""

    def __init__(self, conn: psycopg.Connection, table: str, row_id: int):
        self.conn = conn
        self.statement = FLOOR.format(table=table)
        self.row_id = row_id
        self.count = 0

    def update(self) -> float:
        self.count += 1
        cur = self.conn.cursor()
        cur.execute("select 1", prepare=True)
        started = time.perf_counter()
        cur.execute(self.statement, (700_000 + self.count, self.row_id), prepare=True)
        if cur.rowcount != 1:
            raise RuntimeError("the floor update found no row")
        self.conn.commit()
        return time.perf_counter() - started


class App:
    """The application without odl-db: fetch, jsonpatch, jsonschema, write
    back with an optimistic version check, on bench.app_docs."""

    def __init__(self, conn: psycopg.Connection, row_id: int, doc: dict, offset: int, validator: Any):
        self.conn = conn
        self.row_id = row_id
        self.validator = validator
        self.patches = Patches(doc, offset)

    def patch(self) -> float:
        patch = self.patches.next()
        cur = self.conn.cursor()
        started = time.perf_counter()
        cur.execute(APP_FETCH, (self.row_id,), prepare=True)
        doc, version = cur.fetchone()
        self.conn.commit()
        doc = jsonpatch_lib.apply_patch(doc, patch, in_place=True)
        errors = list(self.validator.iter_errors(doc))
        if errors:
            raise RuntimeError(f"application side: invalid document: {errors[0].message}")
        cur.execute(APP_WRITE, (Jsonb(doc, dumps=dumps), self.row_id, version), prepare=True)
        if cur.rowcount != 1:
            raise RuntimeError("application side: version conflict")
        self.conn.commit()
        return time.perf_counter() - started


def memory(pid: int) -> dict[str, int]:
    """A backend's memory from /proc/<pid>/status, in kB: RssAnon (its
    private memory; VmRSS also counts the shared buffers it touched), VmRSS
    and VmHWM (the peak of VmRSS)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _ratio_of_medians(label: str, unit: str, baseline: list[float], candidate: list[float],
                      goal: float | None, seed: int, resamples: int = 2000) -> Row:
    """For samples that cannot be paired: the ratio of the medians, with a
    95% bootstrap interval resampling each side on its own."""
    rng = random.Random(seed)
    ratios = sorted(
        statistics.median(rng.choices(candidate, k=len(candidate)))
        / statistics.median(rng.choices(baseline, k=len(baseline)))
        for _ in range(resamples)
    )
    base, cand = statistics.median(baseline), statistics.median(candidate)
    return Row(label, unit, base, cand, cand / base,
               ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1], goal)


def _throughput_worker(dbname: str, pipe: Any, doc: dict, plain_id: int,
                       documents: dict[str, tuple[tuple[str, str], str, int]]) -> None:
    """One client of item 4, in its own process: runs whichever side the
    parent asks for until the slot ends and reports (writes, seconds).
    `documents` gives, per configuration, (context, doc_id, offset)."""
    app = psycopg.connect(dbname=dbname, user="odl_app")
    plain = psycopg.connect(dbname=dbname, user="postgres", autocommit=True)
    mine = {config: Document(app, context, doc_id, doc, offset)
            for config, (context, doc_id, offset) in documents.items()}
    value = 0
    pipe.send("ready")
    while (order := pipe.recv()) is not None:
        side, start, stop = order
        time.sleep(max(0.0, start - time.time()))
        began = time.time()
        writes = 0
        while True:
            if side == "plain":
                value += 1
                plain.execute(PLAIN, (value, plain_id), prepare=True)
            else:
                mine[side].patch()
            writes += 1
            if time.time() >= stop:
                break
        pipe.send((writes, time.time() - began))
    pipe.send({config: document.version for config, document in mine.items()})
    app.close()
    plain.close()


class Bench:
    """The tenants, projects, connections and documents of one run."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.rng = random.Random(ctx.seed)
        self.docs: dict[tuple[str, str], dict] = {}
        self.texts: dict[tuple[str, str], str] = {}
        for gen, generate in GENERATORS.items():
            for label, size in SIZES.items():
                self.docs[gen, label] = generate(size, SEED)
                self.texts[gen, label] = dumps(self.docs[gen, label])
        self.su = ctx.connect(user="postgres")
        self.su.execute(SETUP)
        self.su.commit()
        self.meter = ctx.connect(user="postgres", autocommit=True)
        self.app = ctx.connect(user="odl_app")
        self.app2 = ctx.connect(user="odl_app")
        self.context, self.project = self.tenant("bench")
        schema = json.loads((TOP / "schemas" / "odl-sd-4.1.schema.json").read_text())
        self.app_validator = jsonschema.Draft202012Validator(schema)
        self.floors: dict[tuple[str, str, str], Floor] = {}
        self.warm: Document | None = None
        self.serial = 0

    def close(self) -> None:
        for conn in (self.app, self.app2, self.su, self.meter):
            conn.close()

    def tenant(self, name: str) -> tuple[tuple[str, str], str]:
        """A tenant with a user who holds super_user (the one role with W on
        every section, which odl_create_document needs for a whole document)
        through an assignment at the PORTFOLIO node of a project, made by the
        tenant's administrator: every patch passes the access checks and is
        applied. Returns the user's context and the project."""
        with self.ctx.connect(user="postgres", autocommit=True) as admin:
            admin.execute("set role odl_admin")
            (tenant,) = admin.execute("select odl.odl_create_tenant(%s, 'EU')", (name,)).fetchone()
            (tenant_admin,) = admin.execute(
                "select odl.odl_create_user(%s, %s, 'super_user')", (tenant, f"admin@{name}.example.com")
            ).fetchone()
            (user,) = admin.execute(
                "select odl.odl_create_user(%s, %s, 'engineer')", (tenant, f"bench@{name}.example.com")
            ).fetchone()
        self.app.execute(SET_CONTEXT, (tenant, user))
        (project,) = self.app.execute("select odl.odl_create_project(%s)", (name,)).fetchone()
        self.app.commit()
        self.app.execute(SET_CONTEXT, (tenant, tenant_admin))
        (node,) = self.app.execute("select odl.odl_create_node(null, 'PORTFOLIO', %s)", (name,)).fetchone()
        self.app.execute("select odl.odl_attach_project(%s, %s)", (project, node))
        self.app.execute("select odl.odl_assign_role(%s, %s, 'super_user')", (user, node))
        self.app.commit()
        return (tenant, user), project

    def offset(self) -> int:
        """Where the patch counter of a new document starts."""
        self.serial += 1
        return self.serial * 100_000

    def create(self, gen: str, label: str, toggle: bool = False, keep: bool = False,
               context: tuple[str, str] | None = None, project: str | None = None) -> Document:
        """A new document through odl_create_document(), sent as the text
        the generator wrote; `keep` records its patches for check_exact()."""
        context, project = context or self.context, project or self.project
        text = self.texts[gen, label]
        self.app.execute(SET_CONTEXT, context)
        (doc_id,) = self.app.execute("select odl.odl_create_document(%s, %s::jsonb)", (project, text)).fetchone()
        self.app.commit()
        return Document(self.app, context, doc_id, self.docs[gen, label], self.offset(), toggle,
                        text if keep else None)

    def guard_cost(self) -> dict[str, float]:
        """In-server µs per call of the limit checks the API makes before any
        other work (odl.check_json: size and nesting depth), as the owner
        that runs them: of the ten-operation patch (every odl_apply_patch)
        and of each whole document (odl_create_document). Medians of five
        statements of GUARD_CALLS calls each (fewer for larger documents),
        timed by the client (the round trip, and the document's one cast to
        jsonb, shared by the calls)."""
        patch = dumps(Patches(self.docs["fixture", "10 KB"], 1).next())
        cases = {"patch, 10 operations": (patch, "patch_bytes", "the patch", 2, GUARD_CALLS)}
        cases |= {f"document, {label}": (self.texts["fixture", label], "document_bytes", "the document", 0,
                                         max(2, GUARD_CALLS * 10_000 // size))
                  for label, size in SIZES.items()}
        costs = {}
        for name, (text, limit, what, levels, calls) in cases.items():
            runs = []
            for _ in range(5):
                started = time.perf_counter()
                self.su.execute(
                    "select count(odl.check_json(v, null, %s, %s, %s))"
                    " from (select %s::jsonb as v) as j, generate_series(1, %s)",
                    (limit, what, levels, text, calls),
                ).fetchone()
                runs.append((time.perf_counter() - started) / calls)
            costs[name] = statistics.median(runs) * 1e6
        self.su.rollback()
        return costs

    def core_write(self) -> dict[str, list]:
        """Item 1 at 10 KB (fixture) with every projector of the change feed
        disabled: what the core write costs (context, rights, patch,
        validation, hash, storage, audit) against the floor, for information.
        ROUNDS pairs in shuffled order, after a warm-up pair; the projectors
        are enabled again whatever happens."""
        doc = self.create("fixture", "10 KB")
        floor = self.floor("fixture", "10 KB")
        times: dict[str, list] = {"odl-db": [], "floor": []}
        enabled = [p for (p,) in self.su.execute(
            "select projector from odl.document_projectors where enabled").fetchall()]
        self.su.execute("update odl.document_projectors set enabled = false")
        self.su.commit()
        try:
            for round_ in range(1 + ROUNDS["10 KB"]):
                order = list(times)
                self.rng.shuffle(order)
                for name in order:
                    result = doc.patch()[0] if name == "odl-db" else floor.update()
                    if round_:
                        times[name].append(result)
        finally:
            self.su.rollback()
            self.su.execute("update odl.document_projectors set enabled = true where projector = any(%s)", (enabled,))
            self.su.commit()
        return times

    def floor(self, gen: str, label: str, table: str = "bench.plain_docs") -> Floor:
        """The floor's row of a document: the same text, in a plain table."""
        key = (gen, label, table)
        if key not in self.floors:
            row_id = len(self.floors) + 1
            self.su.execute(f"insert into {table} (id, doc) values (%s, %s::jsonb)",
                            (row_id, self.texts[gen, label]))
            self.su.commit()
            self.floors[key] = Floor(self.su, table, row_id)
        return self.floors[key]

    def wal(self) -> int:
        (lsn,) = self.meter.execute(WAL).fetchone()
        return int(str(lsn).split("/")[0], 16) << 32 | int(str(lsn).split("/")[1], 16)

    def check_exact(self, doc: Document) -> None:
        """The stored document must be, as jsonb text, the original with
        every sent patch applied by the jsonpatch library, and its doc_hash
        the RFC 8785 hash of that content."""
        expected = odlsd_floats.loads(doc.text)
        for patch in doc.sent:
            jsonpatch_lib.apply_patch(expected, patch, in_place=True)
        same, version, doc_hash, stored, wanted = self.su.execute(
            "select d.doc_json::text = e.doc::text, d.version, d.doc_hash,"
            " case when d.doc_json::text = e.doc::text then '' else d.doc_json::text end,"
            " case when d.doc_json::text = e.doc::text then '' else e.doc::text end"
            " from odl.odl_documents as d, (select %s::jsonb as doc) as e where d.doc_id = %s",
            (dumps(expected), doc.doc_id),
        ).fetchone()
        if not same:
            at = next((i for i, (a, b) in enumerate(zip(stored, wanted)) if a != b), min(len(stored), len(wanted)))
            raise RuntimeError(
                f"the stored document differs from the expected one at character {at}: "
                f"stored …{stored[max(0, at - 60):at + 60]}… expected …{wanted[max(0, at - 60):at + 60]}…"
            )
        (text,) = self.su.execute("select doc_json::text from odl.odl_documents where doc_id = %s",
                                  (doc.doc_id,)).fetchone()
        self.su.commit()
        if version != 1 + len(doc.sent):
            raise RuntimeError(f"the stored version is {version} after {len(doc.sent)} patches")
        if doc_hash != rfc8785_hash(text):
            raise RuntimeError(f"the stored doc_hash {doc_hash} is not the RFC 8785 hash of the stored document")

    # --- item 1 (and 2 on the fixture) -------------------------------------------------

    def latency(self, gen: str, label: str) -> dict:
        with Stopwatch() as created:
            doc = self.create(gen, label, keep=True)
        floor, lz4 = self.floor(gen, label), self.floor(gen, label, "bench.plain_lz4")
        sides = {"odl-db": doc.patch, "floor": floor.update, "lz4": lz4.update}
        if gen == "fixture" and label in APP_SIZES:
            (app_id,) = self.su.execute(
                "insert into bench.app_docs (id, doc, version) values (%s, %s::jsonb, 1) returning id",
                (len(self.floors), self.texts[gen, label]),
            ).fetchone()
            self.su.commit()
            sides["app"] = App(self.su, app_id, self.docs[gen, label], self.offset(), self.app_validator).patch
        times: dict[str, list] = {name: [] for name in sides}
        wal: dict[str, list] = {name: [] for name in sides}
        for round_ in range(1 + ROUNDS[label]):  # the first round warms plans and caches up
            order = list(sides)
            self.rng.shuffle(order)
            for name in order:
                before = self.wal()
                result = sides[name]()
                written = self.wal() - before
                if round_:
                    times[name].append(result)
                    wal[name].append(written)
        misses = self.misses(doc, floor, label)
        pooled = self.pooled(doc, floor, label)
        growth = self.growth(doc, floor, gen, label) if label in GROWTH_SIZES else None
        with Stopwatch() as sw:
            self.check_exact(doc)
        stored = self.su.execute(
            "select pg_column_size(d.doc_json), pg_column_compression(d.doc_json),"
            " (select pg_column_size(p.doc) from bench.plain_docs as p where p.id = %(floor)s),"
            " (select pg_column_compression(p.doc) from bench.plain_docs as p where p.id = %(floor)s),"
            " (select pg_column_size(p.doc) from bench.plain_lz4 as p where p.id = %(lz4)s)"
            " from odl.odl_documents as d where d.doc_id = %(doc)s",
            {"doc": doc.doc_id, "floor": floor.row_id, "lz4": lz4.row_id},
        ).fetchone()
        self.su.commit()
        return {"times": times, "wal": wal, "misses": misses, "pooled": pooled, "growth": growth, "stored": stored,
                "check_seconds": sw.seconds, "create_seconds": created.seconds, "patches": len(doc.sent)}

    def misses(self, doc: Document, floor: Floor, label: str) -> dict:
        """MISS_ROUNDS fresh backends, each pinned with this client: one
        patch of a small document of its own (Python starts, the validators
        compile), then the first patch of `doc` in this backend, paired in
        shuffled order with a floor update, then AFTER_MISS more patches.
        The backend's memory is read before the first patch of `doc` and
        after the last."""
        if self.warm is None:  # made after the storage measurement, which needs empty tables
            self.warm = self.create("fixture", "10 KB")
            self.warm.patch(self.app2)  # Python starts in the second backend of pooled()
        out: dict[str, list] = {"miss": [], "floor": [], "first_write": [], "after": [],
                                "memory_before": [], "memory_after": []}
        for _ in range(MISS_ROUNDS[label]):
            with self.ctx.connect(user="odl_app") as conn, one_cpu(conn):
                out["first_write"].append(self.warm.patch(conn)[0])
                out["memory_before"].append(memory(conn.info.backend_pid))
                order = ["miss", "floor"]
                self.rng.shuffle(order)
                for side in order:
                    out[side].append(doc.patch(conn)[0] if side == "miss" else floor.update())
                out["after"] += [doc.patch(conn)[0] for _ in range(AFTER_MISS)]
                out["memory_after"].append(memory(conn.info.backend_pid))
        return out

    def pooled(self, doc: Document, floor: Floor, label: str) -> dict:
        """Patches from two backends taking turns, as from a connection pool
        (each finds that the other wrote the document since it last did),
        each paired in shuffled order with a floor update. The first comes
        after the fresh backends of misses() wrote the document."""
        out: dict[str, list] = {"pooled": [], "floor": []}
        for k in range(MISS_ROUNDS[label]):
            order = ["pooled", "floor"]
            self.rng.shuffle(order)
            for side in order:
                out[side].append(doc.patch((self.app, self.app2)[k % 2])[0] if side == "pooled" else floor.update())
        return out

    def growth(self, doc: Document, floor: Floor, gen: str, label: str) -> dict:
        """GROWTH_ROUNDS times: a patch that appends an instance (a copy of the
        last one under a new id) and a connection to it, then one that
        removes both, each paired in shuffled order with a floor update."""
        last = self.docs[gen, label]["instances"][-1]
        count, connections = doc.patches.instances, doc.patches.connections
        out: dict[str, list] = {"add": [], "remove": [], "floor": []}
        for k in range(GROWTH_ROUNDS):
            ident = f"BENCH-{doc.offset + k}"
            for step in ("add", "remove"):
                patch = [
                    {"op": "add", "path": "/instances/-", "value": {**last, "id": ident}},
                    {"op": "add", "path": "/connections/-",
                     "value": {"id": f"CN-{ident}", "kind": "dc_power", "from": {"instance_id": ident, "port_id": "dc_out"},
                               "to": {"instance_id": last["id"], "port_id": "dc_out"}}},
                ] if step == "add" else [
                    {"op": "remove", "path": f"/connections/{connections}"},
                    {"op": "remove", "path": f"/instances/{count}"},
                ]
                order = [step, "floor"]
                self.rng.shuffle(order)
                for side in order:
                    out[side].append(doc.patch(patch=patch)[0] if side == step else floor.update())
        return out

    # --- item 3: the history of a 1 MB document ------------------------------

    def relation_sizes(self) -> dict[str, tuple[int, int, int]]:
        """Every table of the database but the benchmark's own: name ->
        (pg_total_relation_size, its TOAST with index, its indexes)."""
        rows = self.su.execute(
            "select quote_ident(n.nspname) || '.' || quote_ident(c.relname), pg_total_relation_size(c.oid),"
            " coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0), pg_indexes_size(c.oid)"
            " from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'm') and n.nspname not in ('pg_catalog', 'information_schema', 'bench')"
        ).fetchall()
        self.su.commit()
        return {name: (total, toast, indexes) for name, total, toast, indexes in rows}

    def vacuum(self, how: str = "", tables: list[str] | None = None) -> None:
        self.su.autocommit = True
        self.su.execute(f"vacuum {how} {', '.join(tables or [])}")
        self.su.autocommit = False

    def size_history(self) -> dict:
        """SIZE_HISTORY patches to a 1 MB document, alone in the tables; what
        every table of the database gained, after vacuum, and again after
        vacuum full of the tables that grew."""
        (others,) = self.su.execute("select count(*) from odl.odl_documents").fetchone()
        self.su.commit()
        if others:
            raise RuntimeError(f"the storage measurement needs empty tables; odl_documents holds {others} rows")
        self.vacuum()
        before = self.relation_sizes()
        with Stopwatch() as sw:
            doc = self.create("fixture", "1 MB", toggle=True)
            for k in range(SIZE_HISTORY):
                doc.patch()
                if (k + 1) % 250 == 0:
                    self.ctx.log(f"history of the 1 MB document: {k + 1} patches")
        self.vacuum()
        after = self.relation_sizes()
        grown = {name: tuple(a - b for a, b in zip(after[name], before.get(name, (0, 0, 0))))
                 for name in after if after[name][0] - before.get(name, (0, 0, 0))[0] > 0}
        self.vacuum("full", sorted(grown))
        compacted = self.relation_sizes()
        counts = self.su.execute(
            "select (select count(*) from odl.odl_document_versions where doc_id = %(id)s),"
            " (select count(*) from odl.odl_document_versions where doc_id = %(id)s and doc_json is not null),"
            " (select count(*) from odl.odl_patches where doc_id = %(id)s),"
            " (select pg_column_size(doc_json) from odl.odl_documents where doc_id = %(id)s),"
            " (select avg(pg_column_size(patch_json) + pg_column_size(inverse_patch)) from odl.odl_patches"
            "  where doc_id = %(id)s)",
            {"id": doc.doc_id},
        ).fetchone()
        self.su.commit()
        return {"doc": doc, "seconds": sw.seconds, "grown": grown, "before": before, "compacted": compacted,
                "counts": counts}

    # --- item 3: a long history ---------------------------------------------------

    def long_history(self) -> dict:
        """Patches 1 to WINDOW and WINDOW patches around the LONG_HISTORY-th
        of one 10 KB document, each paired with a floor update of the same size."""
        doc = self.create("fixture", "10 KB")
        floor = self.floor("fixture", "10 KB")

        def window() -> tuple[list[float], list[float]]:
            patches, floors = [], []
            for _ in range(WINDOW):
                order = ["patch", "floor"]
                self.rng.shuffle(order)
                for side in order:
                    if side == "patch":
                        patches.append(doc.patch()[0])
                    else:
                        floors.append(floor.update())
            return patches, floors

        early, early_floor = window()
        with Stopwatch() as sw:
            while doc.patches.count < LONG_HISTORY - WINDOW // 2 - 1:
                doc.patch()
        late_first = doc.patches.count + 1
        late, late_floor = window()
        return {"early": early, "late": late, "early_floor": early_floor, "late_floor": late_floor,
                "late_first": late_first, "seconds": sw.seconds}

    # --- item 3: reading back -------------------------------------------------------

    def read_back(self, doc: Document) -> dict:
        floor = self.floor("fixture", "1 MB")
        expected = dict(self.su.execute(
            "select version, doc_hash from odl.odl_document_versions where doc_id = %s", (doc.doc_id,)
        ).fetchall())
        self.su.commit()
        # Each version once outside the timings, to check the content.
        for version in MIDDLE_VERSIONS + AFTER_SNAPSHOT_VERSIONS:
            self.app.execute(SET_CONTEXT, self.context)
            (content,) = self.app.execute(
                "select document::text from odl.odl_get_document(%s, %s)", (doc.doc_id, version)
            ).fetchone()
            self.app.commit()
            if rfc8785_hash(content) != expected[version]:
                raise RuntimeError(f"version {version} read back does not have its recorded hash")
        times: dict[str, dict[str, list]] = {}
        plan = [(kind, version) for kind, versions in (("middle", MIDDLE_VERSIONS),
                                                     ("after", AFTER_SNAPSHOT_VERSIONS))
                for version in versions for _ in range(READ_ROUNDS)]
        self.rng.shuffle(plan)
        cur = self.app.cursor()
        for kind, version in plan:
            pair = times.setdefault(kind, {"read": [], "floor": []})
            order = ["read", "floor"]
            self.rng.shuffle(order)
            for side in order:
                if side == "floor":
                    pair["floor"].append(floor.update())
                    continue
                # The document is built in full; only its size travels back.
                cur.execute(SET_CONTEXT, self.context, prepare=True)
                started = time.perf_counter()
                cur.execute("select pg_column_size(document) from odl.odl_get_document(%s, %s)",
                            (doc.doc_id, version), prepare=True)
                cur.fetchone()
                self.app.commit()
                pair["read"].append(time.perf_counter() - started)
        return times

    # --- item 4 -------------------------------------------------------------------------

    def throughput(self) -> dict:
        """CLIENTS processes; each patches a 10 KB document of its own in the
        main tenant ("one") or in a tenant of its own ("four"), or runs
        plain updates of a row of its own, whichever the slot asks for."""
        one = [self.create("fixture", "10 KB") for _ in range(CLIENTS)]
        four = []
        for k in range(CLIENTS):
            context, project = self.tenant(f"bench{k + 1}")
            four.append(self.create("fixture", "10 KB", context=context, project=project))
        for k in range(CLIENTS):
            self.su.execute("insert into bench.plain (id, doc) values (%s, %s::jsonb)",
                            (k, self.texts["fixture", "10 KB"]))
        self.su.commit()
        spawn = multiprocessing.get_context("spawn")
        pipes, workers = [], []
        for k in range(CLIENTS):
            mine, theirs = spawn.Pipe()
            documents = {config: (docs[k].context, docs[k].doc_id, docs[k].offset)
                         for config, docs in (("one", one), ("four", four))}
            worker = spawn.Process(
                target=_throughput_worker, daemon=True,
                args=(self.ctx.dbname, theirs, self.docs["fixture", "10 KB"], k, documents),
            )
            worker.start()
            theirs.close()  # so that a client that dies ends recv() with EOFError instead of a hang
            pipes.append(mine)
            workers.append(worker)
        sides = ("plain", "one", "four")
        per_write: dict[str, list[float]] = {side: [] for side in sides}
        rates: dict[str, list[float]] = {side: [] for side in sides}
        patches = {"one": 0, "four": 0}
        try:
            for pipe in pipes:
                if pipe.recv() != "ready":
                    raise RuntimeError("a throughput client did not start")
            # A warm-up round of short slots: the clients' backends start
            # Python and load their documents, as pooled connections have.
            for round_ in range(1 + SLOTS):
                order = list(sides)
                self.rng.shuffle(order)
                for side in order:
                    start = time.time() + 0.3
                    for pipe in pipes:
                        pipe.send((side, start, start + (SLOT_SECONDS if round_ else WARMUP_SECONDS)))
                    results = [pipe.recv() for pipe in pipes]
                    if side != "plain":
                        patches[side] += sum(writes for writes, _ in results)
                    if not round_:
                        continue
                    rate = sum(writes / seconds for writes, seconds in results)
                    rates[side].append(rate)
                    per_write[side].append(1e6 / rate)
            for pipe in pipes:
                pipe.send(None)
            versions = [pipe.recv() for pipe in pipes]
        finally:
            for worker in workers:
                worker.join(timeout=30)
                if worker.is_alive():
                    worker.kill()
        for config, docs in (("one", one), ("four", four)):
            stored = dict(self.su.execute(
                "select doc_id, version from odl.odl_documents where doc_id = any(%s)", ([d.doc_id for d in docs],)
            ).fetchall())
            self.su.commit()
            counted = [v[config] for v in versions]
            if [stored[d.doc_id] for d in docs] != counted or sum(c - 1 for c in counted) != patches[config]:
                raise RuntimeError(f"throughput ({config}): the clients' patches and the stored versions disagree")
        return {"per_write": per_write, "rates": rates, "patches": patches}


def run(ctx: Context) -> Section:
    with Stopwatch() as sw:
        bench = Bench(ctx)
    phases: dict[str, float] = {"setup and generation": sw.seconds}
    try:
        with one_cpu(bench.app, bench.app2, bench.su, bench.meter) as pinning:
            with Stopwatch() as sw:
                history = bench.size_history()
            phases[f"{SIZE_HISTORY:,} patches to a 1 MB document and vacuum"] = sw.seconds
            ctx.log(f"{SIZE_HISTORY:,} patches to the 1 MB document in {history['seconds']:.0f} s")
            latency = {}
            for label in SIZES:
                for gen in GENERATORS:
                    with Stopwatch() as sw:
                        latency[gen, label] = bench.latency(gen, label)
                    phases[f"item 1 at {label} ({gen})"] = sw.seconds
                    t = latency[gen, label]["times"]
                    ctx.log(f"patch latency at {label} ({gen}): {sw.seconds:.0f} s; median odl-db "
                            f"{statistics.median(x[0] for x in t['odl-db']) * 1e3:.2f} ms, floor "
                            f"{statistics.median(t['floor']) * 1e3:.2f} ms")
            with Stopwatch() as sw:
                guards = bench.guard_cost()
            phases["guards"] = sw.seconds
            with Stopwatch() as sw:
                core = bench.core_write()
            phases["core write"] = sw.seconds
            with Stopwatch() as sw:
                long = bench.long_history()
            phases[f"{LONG_HISTORY:,} patches"] = sw.seconds
            ctx.log(f"{LONG_HISTORY:,} patches to the 10 KB document in {sw.seconds:.0f} s")
            with Stopwatch() as sw:
                reads = bench.read_back(history["doc"])
            phases["reading back"] = sw.seconds
        with Stopwatch() as sw:
            throughput = bench.throughput()
        phases["throughput"] = sw.seconds
    finally:
        bench.close()

    return Section(
        compared=_compared(),
        method=_method(bench, pinning),
        rows=_rows(ctx, latency, core, long, history, reads, throughput),
        baseline_name="baseline",
        candidate_name="odl-db",
        notes=_notes(latency, history, throughput, guards),
        facts={"phases": ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items())}
        | ({"QUICK": "ODL_BENCH_QUICK=1, a smoke run: these numbers are no result"} if QUICK else {}),
    )


def _unit(label: str) -> tuple[str, float]:
    return ("µs", 1e6) if label == "10 KB" else ("ms", 1e3)


def _rows(ctx, latency, core, long, history, reads, throughput) -> list[Row]:
    rows: list[Row] = []
    for gen in GENERATORS:
        for label in SIZES:
            unit, scale = _unit(label)
            t = latency[gen, label]["times"]
            api = [x[0] * scale for x in t["odl-db"]]
            rows.append(compare(
                f"1. patch, {label}, {GENERATOR_NAMES[gen]}: `odl_apply_patch` (10 operations) vs one "
                "`jsonb_set` `update` of a plain table (default compression)",
                f"{unit}/patch", [x * scale for x in t["floor"]], api, GOALS["floor"][label], ctx.seed,
            ))
            rows.append(compare(
                "1. the same against the plain table with an lz4 column", f"{unit}/patch",
                [x * scale for x in t["lz4"]], api, None, ctx.seed,
            ))
            misses = latency[gen, label]["misses"]
            rows.append(compare(
                "1. the same, first patch of the document in a fresh backend (cache miss) vs the floor",
                f"{unit}/patch", [x * scale for x in misses["floor"]], [x * scale for x in misses["miss"]],
                None, ctx.seed,
            ))
            pooled = latency[gen, label]["pooled"]
            rows.append(compare(
                "1. the same, from two backends taking turns (a connection pool: each finds the other wrote "
                "since) vs the floor",
                f"{unit}/patch", [x * scale for x in pooled["floor"]], [x * scale for x in pooled["pooled"]],
                None, ctx.seed,
            ))
            growth = latency[gen, label]["growth"]
            if growth:
                rows.append(compare(
                    "1. a patch that appends an instance and a connection, or removes them again, vs the floor",
                    f"{unit}/patch", [x * scale for x in growth["floor"]],
                    [x * scale for pair in zip(growth["add"], growth["remove"]) for x in pair], None, ctx.seed,
                ))
    rows.append(compare(
        "1. patch, 10 KB, fixture, with every projector disabled (the core write: context, rights, patch, "
        "validation, hash, storage, audit) vs the floor",
        "µs/patch", [x * 1e6 for x in core["floor"]], [x * 1e6 for x in core["odl-db"]], None, ctx.seed,
    ))
    for label in APP_SIZES:
        unit, scale = _unit(label)
        t = latency["fixture", label]["times"]
        rows.append(compare(
            f"2. against the application, {label}: odl-db transaction vs fetch, `jsonpatch`, `jsonschema`, "
            "write back",
            f"{unit}/patch", [x * scale for x in t["app"]], [x[1] * scale for x in t["odl-db"]],
            GOALS["app"] if label == "1 MB" else None, ctx.seed,
        ))
    late = long["late_first"]
    windows = f"patches {late:,}–{late + WINDOW - 1:,} vs patches 1–{WINDOW} of the same document"
    rows.append(_ratio_of_medians(
        f"3. long history, 10 KB: {windows}",
        "µs/patch", [x * 1e6 for x in long["early"]], [x * 1e6 for x in long["late"]], GOALS["history"], ctx.seed,
    ))
    rows.append(_ratio_of_medians(
        "3. long history, 10 KB: the same, each patch as a multiple of the floor update interleaved with it",
        "× floor", [p / f for p, f in zip(long["early"], long["early_floor"])],
        [p / f for p, f in zip(long["late"], long["late_floor"])], None, ctx.seed,
    ))
    # Judged as v0.1.0 was, after a plain `vacuum`; compacted, for information.
    total = sum(grown[0] for grown in history["grown"].values()) / 1e6
    rows.append(Row(
        f"3. storage, 1 MB: what the document and its {SIZE_HISTORY:,} patches add to the database after "
        f"`vacuum` (every table, TOAST and index) vs a {SIZE_BUDGET_MB:.0f} MB budget",
        "MB", SIZE_BUDGET_MB, total, total / SIZE_BUDGET_MB, goal=GOALS["size"],
    ))
    before, compacted = history["before"], history["compacted"]
    kept = sum(compacted[n][0] - before.get(n, (0, 0, 0))[0] for n in history["grown"]) / 1e6
    rows.append(Row(
        "3. the same compacted (`vacuum full`): without the free space the current document's dead TOAST "
        "values leave in the files until they are reused (notes)",
        "MB", SIZE_BUDGET_MB, kept, kept / SIZE_BUDGET_MB,
    ))
    for kind, versions, text in (
        ("middle", MIDDLE_VERSIONS, "50 patches from the nearest snapshot"),
        ("after", AFTER_SNAPSHOT_VERSIONS, "one patch after a snapshot"),
    ):
        shown = ", ".join(f"{v:,}" for v in versions[:3]) + (", …" if len(versions) > 3 else "")
        rows.append(compare(
            f"3. reading back, 1 MB: `odl_get_document(id, v)` for v = {shown} ({text}) vs the floor",
            "ms/read", [x * 1e3 for x in reads[kind]["floor"]], [x * 1e3 for x in reads[kind]["read"]],
            GOALS["read"], ctx.seed,
        ))
    for config, text in (("one", "one tenant"), ("four", "four tenants, one per client")):
        rows.append(compare(
            f"4. throughput, 10 KB, {CLIENTS} clients, {text}: wall time per committed patch vs per plain "
            "primary-key `update` (≤ 4 means ≥ 25% of the throughput)",
            "µs/write", throughput["per_write"]["plain"], throughput["per_write"][config],
            GOALS["throughput"], ctx.seed,
        ))
    return rows


def _compared() -> str:
    return (
        "Writing, keeping and reading ODL-SD documents through odl-db's API, as `odl_app` after "
        "`odl_set_context(tenant, user)`, with rights, validation, hashing, history and audit on, against a "
        "baseline for each question, measured in the same run and interleaved with it:\n\n"
        "1. **Patch latency**: `odl_apply_patch()` of a ten-operation patch against the **floor**: ONE "
        "`update bench.plain_docs set doc = jsonb_set(doc, '{finance,opex_per_year}', …) where id = $1` of a "
        "plain table holding the same document, created with default settings (`id integer primary key, doc "
        "jsonb`: default TOAST compression, no index but the primary key). Goal: at most 2× the floor at 1 MB "
        "and 10 MB, at most 3× at 10 KB, on two generators: the project's fixture and a float-heavy one. For "
        "information: the same against a plain table whose column uses lz4 (what lz4 alone buys), and the "
        "first patch of a document in a fresh backend (a cache miss) and patches from two backends taking "
        "turns (a connection pool), each against the floor. After the rounds "
        "the stored document must equal exactly (jsonb text) what the client computes, and its `doc_hash` "
        "must be the RFC 8785 hash.\n"
        "2. **Against the application without odl-db**: fetch the document with psycopg, apply the same "
        "patch with the `jsonpatch` library, validate it with the `jsonschema` library, write it back "
        "with `update bench.app_docs set doc = $1, version = version + 1 where id = $2 and version = $3`. "
        "Goal: odl-db at least 5× faster at 1 MB (ratio ≤ 0.20).\n"
        f"3. **History**: patches around the {LONG_HISTORY:,}th of a document against its first ones (goal: "
        f"within 10%); what a 1 MB document and {SIZE_HISTORY:,} ten-operation patches add to the database "
        f"after `vacuum` (goal: at most {SIZE_BUDGET_MB:.0f} MB); reading back a past version against the floor of item 1 "
        "(goal: at most 5×).\n"
        f"4. **Throughput**: {CLIENTS} concurrent clients patching their own 10 KB documents, all in one "
        f"tenant, and each in a tenant of its own, against {CLIENTS} clients running plain primary-key updates "
        "of a 10 KB `jsonb` (goal: at least 25% of their throughput, both ways).\n"
        "5. **Memory** of a backend that patches a 1 MB and a 10 MB document (notes; not judged)."
    )


def _method(bench: Bench, pinning: str) -> str:
    docs = "; ".join(
        f"{gen} {label}: {len(bench.texts[gen, label]):,} bytes, {len(doc['instances']):,} instances, "
        f"{len(doc['connections']):,} connections"
        for (gen, label), doc in bench.docs.items()
    )
    return (
        f"- Documents: `fixtures/odlsd.generate(size, seed={SEED})` (the project's fixture) and "
        f"`fixtures/odlsd_floats.generate(size, seed={SEED})` (float-heavy: coordinates to 7 decimals, "
        "elevations, measured voltages, currents, efficiencies, cable lengths and resistances, numbers spelled "
        f"`2.50`, `100.0`, `0.00005`, `1E-7`) ({docs}). Each is sent as that JSON text to "
        "`odl_create_document()`, in one tenant and project, by a user holding `super_user` (the one role "
        "with W on every section) through an assignment at the PORTFOLIO node the project is attached to, "
        "so every patch passes the access checks and is applied. The floors hold the same text.\n"
        "- The patch (`Patches` in the script): `test` /schema_version; `replace` the lifecycle_status of "
        "three instances spread over the document, the location/elevation_m of a fourth and the kind of a "
        "connection; `add` /meta/timestamps/updated_at; `replace` /analysis/0/p50_mwh and /esg/land_use_ha; "
        "`add` a work order to /operations/work_orders (even patches) or `remove` it (odd ones), so "
        "documents keep their size. The three numbers are written with trailing zeros (`617.30`, `98123.50`, "
        "`95.0`). Values come from a counter per document, so no version repeats any earlier one, of any "
        "document, and no cache of validation results keyed by content can answer.\n"
        "- Item 1, per document: "
        + ", ".join(f"{ROUNDS[label]} rounds at {label}" for label in SIZES)
        + ", after one warm-up round. A round runs each side once in shuffled order, each its own "
        "transaction on a long-lived TCP connection: **odl-db** (`begin`, `odl_set_context()`, `select … "
        "from odl_apply_patch(id, patch, expected_version)`, `commit`, on the connection that has patched this "
        "document since the warm-up: the steady state), the **floor** and the **lz4** plain table (`begin`, "
        "`select 1`, the `update`, `commit`, as the superuser), and on the fixture at "
        + " and ".join(APP_SIZES)
        + " the **application** (item 2). Item 1 times the statement and the commit on every side; item 2 "
        "times the whole odl-db transaction, `odl_set_context()` included, against the application's whole "
        "fetch-patch-validate-write. Ratios are medians of per-round ratios with a 95% bootstrap interval "
        "(`harness.compare`); the time columns are each side's median. Around every write the WAL insert "
        "position is read on a third connection (notes).\n"
        "- Item 1, cache miss: "
        + ", ".join(f"{MISS_ROUNDS[label]} at {label}" for label in SIZES)
        + " fresh backends per document, each pinned with the client: one patch of a 10 KB document of its "
        "own (Python starts, the modules load, the validators compile: the *first write* of the notes), "
        "then the document's next patch, which is this backend's first (the **miss**), paired in shuffled "
        f"order with a floor update, then {AFTER_MISS} more patches. Then as many patches from two "
        "long-lived backends taking turns (the steady-state one and a second one), as a connection pool "
        "would send them: each backend finds that another wrote the document since it last did, each patch "
        "paired in shuffled order with a floor update. At "
        + " and ".join(GROWTH_SIZES)
        + f", {GROWTH_ROUNDS} rounds of a two-operation patch that appends an instance (a copy of the last one "
        "under a new id) and a connection to it, then one that removes both (each paired with a floor update): "
        "edits that change the length of /instances, which the instances projection handles by comparing the "
        "whole array with its rows.\n"
        f"- Item 1, core write (information): a new 10 KB fixture document, then {ROUNDS['10 KB']} rounds (after "
        "a warm-up round) of its patch and a floor update in shuffled order while every projector of "
        "`odl.document_projectors` is disabled (enabled again afterwards): what the write costs without the "
        "projections, for judging the write and each projector apart.\n"
        "- Item 1, exactness: afterwards the client applies every patch it sent, with the `jsonpatch` library, "
        "to the document as generated (numbers read as `Decimal`, so `2.50` stays `2.50`), and the server "
        "compares `doc_json::text` of the stored row with that JSON cast to `jsonb` and back to text "
        "(jsonb keeps a number's scale, so `2.50` and `2.5` differ); the stored version must count every "
        "patch; and the stored `doc_hash` must equal the SHA-256 of the RFC 8785 form of the stored "
        f"document, computed by the `rfc8785` package ({_version('rfc8785')}), not by odl-db's own code.\n"
        "- Item 2, the application: `jsonpatch.apply_patch(doc, patch, in_place=True)` (jsonpatch "
        f"{_version('jsonpatch')}), then `list(Draft202012Validator(schema).iter_errors(doc))` (jsonschema "
        f"{_version('jsonschema')} in the client venv, compiled once from `schemas/odl-sd-4.1.schema.json`, "
        "no format checker, as the library defaults), then the versioned `update` of `bench.app_docs` "
        "(`id integer primary key, doc jsonb, version integer`: no history, no hash). The application does "
        "less than odl-db: it keeps no history, checks no formats, no rights and no integrity rules.\n"
        f"- Item 3, long history: a new 10 KB fixture document; patches 1–{WINDOW} timed (statement and "
        f"commit), then patches up to {LONG_HISTORY - WINDOW // 2 - 1:,} untimed, then {WINDOW} more timed, each "
        "timed patch paired with a floor update of the 10 KB plain row in shuffled order. The two windows "
        "cannot be paired with each other: the ratio is that of their medians, with a bootstrap interval that "
        "resamples each window on its own; the second row divides each patch by its floor update first.\n"
        f"- Item 3, storage: first of all, while the tables hold no document, `vacuum` of the database and "
        f"the size of every table (`pg_total_relation_size`: heap, TOAST, indexes; all schemas but the "
        f"benchmark's); then a new 1 MB fixture document and {SIZE_HISTORY:,} patches, one transaction each; "
        "then `vacuum` and the sizes again; then `vacuum full` of the tables that grew and the sizes again. "
        "The goal, as in v0.1.0, is on the sum of what every table gained after the plain `vacuum` "
        "(documents, versions, patches, projections, audit ledger, whatever the writer keeps). That figure "
        "also counts the free space the current document's dead TOAST values leave in the files, which "
        "depends on whether autovacuum ran during the load (the faster the writes, the less often), as for "
        "any table whose large value is updated; the compacted figure is shown for information. These patches use values that alternate between two settings, so from "
        "the 4th patch on the versions alternate between two contents; that may only make the load faster "
        "(patches, inverses and snapshots have the same sizes as with fresh values).\n"
        "- Item 3, reading back: each version of that document listed in the table is first read once and "
        "the RFC 8785 hash of its text (the `rfc8785` package) checked against the hash recorded for the "
        f"version; then each is read {READ_ROUNDS}× in random order, each read paired with a floor update of "
        "the 1 MB plain row. The read is `select pg_column_size(document) from odl_get_document(id, v)`: "
        "the server rebuilds the whole version but sends back only its size, as the floor sends nothing.\n"
        f"- Item 4: {CLIENTS} client processes (Python, psycopg, prepared statements), each with its own "
        "connections: odl-db patches a 10 KB fixture document of the client's own (`begin`, "
        "`odl_set_context()`, `odl_apply_patch()`, `commit`), either all four documents in the main tenant "
        "(**one tenant**: the writers share the tenant's audit chain head) or each in a tenant of its own "
        "(**four tenants**); plain runs autocommit `update bench.plain set doc = jsonb_set(doc, "
        "'{finance,opex_per_year}', …) where id = $1` on a 10 KB row of its own (primary key only). "
        f"{SLOTS} rounds after a warm-up round of {WARMUP_SECONDS:.0f} s slots (the clients' backends start "
        f"Python and load their documents, as pooled connections have), each one slot of {SLOT_SECONDS:.0f} s per "
        "side (plain, one tenant, four tenants) in shuffled order; a slot's throughput is the sum of the clients' writes per second, shown as wall "
        "time per write (1 / throughput), and each configuration is paired with the plain slot of its "
        "round. The clients share the machine's CPUs with the server, as an application on the same host "
        "would. Afterwards every document's stored version must match the patches its client counted.\n"
        "- Item 5: in every fresh backend of the miss measurement, `/proc/<pid>/status` of the backend "
        "after its first write of the small document (before the first patch of the measured one) and after "
        f"its {1 + AFTER_MISS} patches of the measured document (notes).\n"
        f"- Items 1–3 and 5: {pinning} (see harness.one_cpu), so each comparison runs on one CPU; item 4 "
        "is not pinned."
    )


def _version(package: str) -> str:
    from importlib import metadata

    return metadata.version(package)


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.2f}" if ms < 10 else f"{ms:,.0f}"


def _kb(count: float) -> str:
    return f"{count / 1e3:,.1f}" if count < 1e6 else f"{count / 1e3:,.0f}"


def _notes(latency, history, throughput, guards) -> str:
    med = statistics.median
    write_ms = {label: med(x[0] for x in latency["fixture", label]["times"]["odl-db"]) * 1e3 for label in SIZES}
    lines = [
        "**Guards** (issue 10): what the limit checks cost in the server, before any other work "
        f"(`odl.check_json`: text size and nesting depth by a bounded jsonpath; µs per call, median of five "
        f"statements of {GUARD_CALLS} calls (fewer for larger documents), as the owner), against the median `odl_apply_patch` of the fixture above:",
        "",
        "| checked | µs per call | share of a write |",
        "|---|--:|--:|",
    ]
    for name, micros in guards.items():
        label = name.split(", ")[1] if name.startswith("document") else "10 KB"
        share = f"{micros / 1e3 / write_ms[label]:.1%} of a {label} patch" if name.startswith("patch") else "(create)"
        lines.append(f"| {name} | {micros:,.1f} | {share} |")
    lines += [
        "",
        "**Writes, per document** (medians; WAL bytes from `pg_current_wal_insert_lsn()` around each write; "
        "stored sizes by `pg_column_size`, after the rounds):",
        "",
        "| document | odl-db, ms | its `odl_set_context()`, ms | floor, ms | lz4 floor, ms | miss, ms | first write of a fresh backend (10 KB, "
        "Python start), ms | two backends taking turns, ms | WAL per write, kB: odl-db / floor / "
        "lz4 | stored, kB: odl-db (method) / floor (method) / lz4 | `odl_create_document()`, s | exactness check, s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for (gen, label), result in latency.items():
        t, w, m = result["times"], result["wal"], result["misses"]
        size, method, floor_size, floor_method, lz4_size = result["stored"]
        lines.append(
            f"| {gen}, {label} | {_ms(med(x[0] for x in t['odl-db']))} | {_ms(med(x[1] - x[0] for x in t['odl-db']))} "
            f"| {_ms(med(t['floor']))} "
            f"| {_ms(med(t['lz4']))} | {_ms(med(m['miss']))} | {_ms(med(m['first_write']))} "
            f"| {_ms(med(result['pooled']['pooled']))} | {_kb(med(w['odl-db']))} / {_kb(med(w['floor']))} / {_kb(med(w['lz4']))} "
            f"| {_kb(size)} ({method or 'plain'}) / {_kb(floor_size)} ({floor_method or 'plain'}) / {_kb(lz4_size)} "
            f"| {result['create_seconds']:.1f} | {result['check_seconds']:.1f} |"
        )
    lines += [
        "",
        "Every document above was checked after its rounds: stored text equal to the expected document, "
        "version counting every patch (steady state, fresh backends, backends taking turns), `doc_hash` the "
        "RFC 8785 hash.",
        "",
        "**Memory of a backend** (item 5; kB from `/proc/<pid>/status`, medians over the fresh backends; "
        "*before*: after the backend's first write, of a 10 KB document, so Python and the validators are "
        f"loaded; *after*: after {1 + AFTER_MISS} patches of the document; RssAnon is the backend's private "
        "memory, VmRSS also counts the shared buffers it touched, VmHWM is the peak of VmRSS):",
        "",
        "| document | RssAnon before | RssAnon after | growth | VmRSS after | VmHWM after |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for (gen, label), result in latency.items():
        m = result["misses"]
        before = med(x["RssAnon"] for x in m["memory_before"])
        after = med(x["RssAnon"] for x in m["memory_after"])
        lines.append(
            f"| {gen}, {label} | {before:,.0f} | {after:,.0f} | {after - before:,.0f} "
            f"| {med(x['VmRSS'] for x in m['memory_after']):,.0f} "
            f"| {med(x['VmHWM'] for x in m['memory_after']):,.0f} |"
        )

    grown, compacted = history["grown"], history["compacted"]
    before = history["before"]
    total = sum(g[0] for g in grown.values())
    table_lines = [
        "| table | gained after `vacuum`, MB | of which TOAST | of which indexes | after `vacuum full`, MB |",
        "|---|--:|--:|--:|--:|",
    ]
    for name in sorted(grown, key=lambda n: -grown[n][0]):
        size, toast, indexes = grown[name]
        if size < 50_000:
            continue
        table_lines.append(
            f"| `{name}` | {size / 1e6:.1f} | {toast / 1e6:.1f} | {indexes / 1e6:.1f} "
            f"| {(compacted[name][0] - before.get(name, (0, 0, 0))[0]) / 1e6:.1f} |"
        )
    small = [name for name in grown if grown[name][0] < 50_000]
    table_lines.append(
        f"| all {len(grown)} tables that grew{f' ({len(small)} by less than 0.05 MB)' if small else ''} "
        f"| **{total / 1e6:.1f}** | | | "
        f"**{sum(compacted[n][0] - before.get(n, (0, 0, 0))[0] for n in grown) / 1e6:.1f}** |"
    )
    versions, snapshots, patches, head_bytes, patch_bytes = history["counts"]
    rates = throughput["rates"]
    plain_rate = med(rates["plain"])

    return (
        "\n".join(lines)
        + "\n\n"
        f"**Storage after {SIZE_HISTORY:,} patches to the 1 MB document** ({versions:,} versions, "
        f"{snapshots} of them full snapshots; {patches:,} patches of {float(patch_bytes):,.0f} bytes each "
        f"with their inverse; the current document takes {head_bytes / 1e3:,.0f} kB compressed; "
        f"{history['seconds']:.0f} s to write; every patch writes a new TOAST value of the current document, so "
        f"{SIZE_HISTORY:,} patches leave up to {head_bytes * SIZE_HISTORY / 1e6:,.0f} MB of dead values, which "
        "`vacuum` (or autovacuum, if it ran during the load) makes reusable without returning it to the file "
        "system; `vacuum full` shows what the data take once compacted):\n\n"
        + "\n".join(table_lines)
        + "\n\n"
        f"**Throughput.** Plain updates {plain_rate:,.0f}/s; odl-db with {CLIENTS} clients in one tenant "
        f"{med(rates['one']):,.0f} patches/s ({med(rates['one']) / plain_rate:.1%}), in four tenants "
        f"{med(rates['four']):,.0f} patches/s ({med(rates['four']) / plain_rate:.1%}) (medians of the slots; "
        f"{throughput['patches']['one']:,} and {throughput['patches']['four']:,} patches in all, warm-up included)."
    )
