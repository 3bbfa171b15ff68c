"""Document store: what writing, keeping and reading ODL-SD documents costs.

Generated documents of 10 KB, 1 MB and 10 MB (fixtures/odlsd.py), one run,
five comparisons, each against a baseline measured in the same run:

1. Patch latency: a ten-operation patch over seven sections through
   odl_apply_patch(), against a floor: one superuser `update` of a row of
   the same table (same TOAST, same GIN index) with one `jsonb_set`.
2. The same patch applied the way an application would without odl-db:
   fetch with psycopg, patch with the jsonpatch library, validate with the
   jsonschema library, write back with an optimistic version check.
3. History: patches around the 5,000th of a document against its first
   ones; the storage of 1,000 patches to a 1 MB document; reading back
   past versions, against the floor of item 1.
4. Throughput: 4 clients patching their own 10 KB documents, against 4
   clients running plain primary-key updates.
5. Validation: odl_db.validation inside the server, against the same code
   and the same interpreter in a bare subprocess.
"""

from __future__ import annotations

import datetime
import json
import multiprocessing
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jsonpatch as jsonpatch_lib
import jsonschema
import psycopg
from psycopg.types.json import Jsonb

from harness import Context, Row, Section, Stopwatch, compare, one_cpu

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "fixtures"))
sys.path.insert(0, str(TOP / "plpython"))

import odlsd  # noqa: E402
from odl_db import canonical  # noqa: E402

TITLE = "Document store"

SIZES = {"10 KB": 10_000, "1 MB": 1_000_000, "10 MB": 10_000_000}
SEED = 7
# Rounds of items 1 and 2 per size (one warm-up round before the first):
# each round is one patch through odl-db, one floor update, one
# application-side patch and one timing of the steps of a write.
ROUNDS = {"10 KB": 40, "1 MB": 20, "10 MB": 4}
LONG_HISTORY = 5_000       # patches to the 10 KB document of item 3
LONG_HISTORY_SIZE = "10 KB"
WINDOW = 11                # patches measured from the 1st and around the 5,000th
SIZE_HISTORY = 1_000       # patches to the 1 MB document whose history is weighed
SIZE_BUDGET_MB = 50.0
MIDDLE_VERSIONS = tuple(range(50, SIZE_HISTORY, 100))    # 50 patches from a snapshot
AFTER_SNAPSHOT_VERSIONS = (101, 501, 901)                 # one patch from a snapshot
READ_ROUNDS = 2            # reads of each version
CLIENTS = 4
SLOT_SECONDS = 5.0
SLOTS = 3                  # per side, alternating
VALIDATION_ROUNDS = 9

GOALS = {
    "floor": 3.0,          # odl_apply_patch / floor update, at 1 MB and 10 MB
    "app": 0.2,            # odl_apply_patch / application-side patch, at 1 MB
    "history": 1.10,       # patches around the 5,000th / patches 1 to WINDOW
    "size": 1.0,           # history size / SIZE_BUDGET_MB
    "read": 5.0,           # odl_get_document(id, v) / floor update at 1 MB
    "throughput": 4.0,     # wall time per write, odl-db / plain: 25% of the throughput
    "validation": 2.0,     # in the server / bare subprocess
}

STATUSES = ("planned", "procured", "installed", "commissioned", "operational", "maintenance", "decommissioned")
KINDS = (
    "dc_power", "ac_power", "data_modbus", "data_can", "data_ethernet",
    "control_digital", "control_analog", "thermal_liquid", "thermal_air",
)
EPOCH = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)

APPLY = "select version, doc_hash, inverse_patch from odl.odl_apply_patch(%s, %s, %s)"
SET_CONTEXT = "select odl.odl_set_context(%s, %s)"
FLOOR = (
    "update odl.odl_documents set doc_json = jsonb_set(doc_json, '{finance,opex_per_year}', to_jsonb(%s::int))"
    " where tenant_id = %s and doc_id = %s"
)
APP_FETCH = "select doc, version from bench.app_docs where id = %s"
APP_WRITE = "update bench.app_docs set doc = %s, version = version + 1 where id = %s and version = %s"
PLAIN = "update bench.plain set doc = jsonb_set(doc, '{finance,opex_per_year}', to_jsonb(%s::int)) where id = %s"

SETUP = """
create schema bench;
create table bench.app_docs (id integer primary key, doc jsonb not null, version integer not null);
create table bench.plain (id integer primary key, doc jsonb not null);

create function pg_temp.bench_validate(doc jsonb, repeats integer)
returns double precision[]
language plpython3u
transform for type jsonb
as $$
import time
plpy.execute("select odl.python_boot()")
from odl_db import validation
schema = plpy.execute("select schema from odl.json_schemas where version = '4.1'")[0]["schema"]
cache = GD.setdefault("bench_validation", {})
seconds = []
for _ in range(repeats):
    started = time.perf_counter()
    errors = validation.schema_errors(doc, schema, cache)
    seconds.append(time.perf_counter() - started)
    if errors:
        plpy.error("bench: the document is invalid: %r" % (errors[:3],))
return seconds
$$;

create function pg_temp.bench_versions(out python text, out jsonschema text)
language plpython3u
as $$
import sys
from importlib import metadata
return sys.version.split()[0], metadata.version("jsonschema")
$$;

-- What odl.document_write() does in Python, timed on the server's own
-- modules and compiled validator: first, on the stored document, the whole
-- RFC 8785 hash, the integrity rules and a full schema validation, each
-- alone; then documents.change() itself, which patches and checks (with
-- no cached result) as a write does.
create function pg_temp.bench_steps(doc jsonb, patch jsonb)
returns table (step text, seconds double precision)
language plpython3u
transform for type jsonb
as $$
import time
plpy.execute("select odl.python_boot()")
from odl_db import canonical, documents, validation
schema = plpy.execute("select schema from odl.json_schemas where version = '4.1'")[0]["schema"]
cache = GD.setdefault("bench_validation", {})
validation.validator_for(schema, cache)
out = []
def timed(step, work):
    started = time.perf_counter()
    result = work()
    out.append((step, time.perf_counter() - started))
    return result
timed("hash", lambda: canonical.content_hash(doc))
timed("integrity", lambda: validation.integrity_errors(doc, supported_versions=("4.1",)))
if timed("validation", lambda: validation.schema_errors(doc, schema, cache)):
    plpy.error("bench: the stored document is invalid")
fresh = {key: value for key, value in cache.items() if key != "results"}
outcome = timed("change", lambda: documents.change(doc, patch, lambda version: schema, fresh, 100))
if outcome.sqlstate:
    plpy.error("bench: documents.change() failed: %s %s" % (outcome.message, outcome.detail))
return out
$$;

create function pg_temp.bench_py_in(doc jsonb)
returns integer
language plpython3u
transform for type jsonb
as $$
return 1
$$;

create function pg_temp.bench_py_echo(doc jsonb)
returns jsonb
language plpython3u
transform for type jsonb
as $$
return doc
$$;

-- jsonb -> Python and Python -> jsonb through the transform, timed inside
-- the server on a detoasted value.
create function pg_temp.bench_conversions(p_doc jsonb, out to_python double precision, out to_jsonb double precision)
language plpgsql
as $$
declare
    d jsonb := p_doc || '{}';
    started timestamptz;
begin
    started := clock_timestamp();
    perform pg_temp.bench_py_in(d);
    to_python := extract(epoch from clock_timestamp() - started);
    started := clock_timestamp();
    perform pg_temp.bench_py_echo(d);
    to_jsonb := extract(epoch from clock_timestamp() - started) - to_python;
end
$$;
"""

# The same validator in a bare /usr/bin/python3: the modules the server
# runs (read from odl.python_modules), the schema and the document as the
# jsonb transform hands them over (every number a Decimal).
VALIDATOR_PROCESS = r"""
import json, sys, time
from decimal import Decimal
from importlib import metadata
sys.path.insert(0, sys.argv[1])
from odl_db import validation
load = lambda text: json.loads(text, parse_float=Decimal, parse_int=Decimal)
schema = load(sys.stdin.readline())
doc = load(sys.stdin.readline())
cache = {}
print(json.dumps([sys.version.split()[0], metadata.version("jsonschema")]), flush=True)
for line in sys.stdin:
    seconds = []
    for _ in range(int(line)):
        started = time.perf_counter()
        errors = validation.schema_errors(doc, schema, cache)
        seconds.append(time.perf_counter() - started)
        if errors:
            sys.exit("bench: the document is invalid: %r" % (errors[:3],))
    print(json.dumps(seconds), flush=True)
"""


class Patches:
    """Ten-operation patches over seven sections of one document, each valid
    against the version the previous ones left.

    Every patch tests schema_version, replaces the lifecycle_status of three
    instances spread over the document and the kind of a connection, adds
    meta/timestamps/updated_at, replaces requirements/export_limit_w,
    analysis/0/p50_mwh and esg/land_use_ha, and adds a work order to
    operations (even patches) or removes it again (odd ones), so that the
    document does not grow. Values come from a counter that starts at
    `offset`, so every version differs from every other, also from those of
    other documents, and the server never answers from its cache of
    validation results (keyed by content hash); with `toggle`, the counter
    alternates between offset and offset + 1 instead, so that from the 4th
    patch on the versions alternate between two contents.
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
            {"op": "replace", "path": f"/connections/{n * 13 % self.connections}/kind",
             "value": KINDS[n % len(KINDS)]},
            {"op": "add", "path": "/meta/timestamps/updated_at", "value": stamp},
            # Not finance: a change there waits for an approver (odl.rbac_approval_sections).
            {"op": "replace", "path": "/requirements/export_limit_w", "value": 45_000_000 + n},
            {"op": "add", "path": "/operations/work_orders/-",
             "value": {"id": f"WO-B{n:06d}", "status": "open", "opened_at": stamp, "summary": "bench check"}}
            if i % 2 == 0 else {"op": "remove", "path": f"/operations/work_orders/{self.work_order}"},
            {"op": "replace", "path": "/analysis/0/p50_mwh", "value": 98_000 + n},
            {"op": "replace", "path": "/esg/land_use_ha", "value": 90 + n % 1000},
        ]
        return patch


class Document:
    """A document written through the API by one connection, which tracks
    its version."""

    def __init__(self, conn: psycopg.Connection, context: tuple[str, str], doc_id: str, doc: dict,
                 offset: int, toggle: bool = False):
        self.conn = conn
        self.context = context
        self.doc_id = doc_id
        self.version = 1
        self.offset = offset
        self.patches = Patches(doc, offset, toggle)

    def patch(self) -> tuple[float, float]:
        """One patch in its own transaction; returns (seconds of the
        odl_apply_patch statement and the commit, seconds of the whole
        transaction with odl_set_context)."""
        patch = Jsonb(self.patches.next())
        cur = self.conn.cursor()
        started = time.perf_counter()
        cur.execute(SET_CONTEXT, self.context, prepare=True)
        statement = time.perf_counter()
        cur.execute(APPLY, (self.doc_id, patch, self.version), prepare=True)
        version, _, _ = cur.fetchone()
        self.conn.commit()
        done = time.perf_counter()
        if version != self.version + 1:
            raise RuntimeError(f"odl_apply_patch returned version {version} after {self.version}")
        self.version = version
        return done - statement, done - started


class Floor:
    """The floor: one superuser update with one jsonb_set of a row of
    odl.odl_documents, in a transaction of the same shape as the API's."""

    def __init__(self, conn: psycopg.Connection, tenant: str, doc_id: str):
        self.conn = conn
        self.tenant = tenant
        self.doc_id = doc_id
        self.count = 0

    def update(self) -> float:
        self.count += 1
        cur = self.conn.cursor()
        cur.execute("select 1", prepare=True)
        started = time.perf_counter()
        cur.execute(FLOOR, (700_000 + self.count, self.tenant, self.doc_id), prepare=True)
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
        cur.execute(APP_WRITE, (Jsonb(doc), self.row_id, version), prepare=True)
        if cur.rowcount != 1:
            raise RuntimeError("application side: version conflict")
        self.conn.commit()
        return time.perf_counter() - started


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


def _throughput_worker(dbname: str, pipe: Any, context: tuple[str, str], doc_id: str, offset: int,
                       plain_id: int) -> None:
    """One client of item 4, in its own process: runs whichever side the
    parent asks for until the slot ends and reports (writes, seconds, the
    document's version)."""
    app = psycopg.connect(dbname=dbname, user="odl_app")
    plain = psycopg.connect(dbname=dbname, user="postgres", autocommit=True)
    doc = Document(app, context, doc_id, odlsd.generate(SIZES["10 KB"], SEED), offset)
    value = 0
    pipe.send("ready")
    while (order := pipe.recv()) is not None:
        side, start, stop = order
        time.sleep(max(0.0, start - time.time()))
        began = time.time()
        writes = 0
        while True:
            if side == "odl-db":
                doc.patch()
            else:
                value += 1
                plain.execute(PLAIN, (value, plain_id), prepare=True)
            writes += 1
            if time.time() >= stop:
                break
        pipe.send((writes, time.time() - began, doc.version))
    app.close()
    plain.close()


class Bench:
    """The tenant, project, connections and documents of one run."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.rng = random.Random(ctx.seed)
        self.docs = {label: odlsd.generate(size, SEED) for label, size in SIZES.items()}
        with ctx.connect(user="postgres", autocommit=True) as admin:
            admin.execute("set role odl_admin")
            self.tenant = admin.execute("select odl.odl_create_tenant('bench', 'EU')").fetchone()[0]
            tenant_admin = admin.execute(
                "select odl.odl_create_user(%s, 'admin@example.com', 'super_user')", (self.tenant,)
            ).fetchone()[0]
            self.user = admin.execute(
                "select odl.odl_create_user(%s, 'bench@example.com', 'engineer')", (self.tenant,)
            ).fetchone()[0]
        self.context = (self.tenant, self.user)
        self.su = ctx.connect(user="postgres")
        self.su.execute(SETUP)
        self.su.commit()
        self.app = ctx.connect(user="odl_app")
        self.app.execute(SET_CONTEXT, self.context)
        self.project = self.app.execute("select odl.odl_create_project('bench')").fetchone()[0]
        self.app.commit()
        # Rights come from an assignment at the node the project hangs
        # under: the tenant's administrator makes a PORTFOLIO, attaches the
        # project and gives the user super_user there, the one role with W
        # on every section (odl_create_document needs it for a whole document).
        self.app.execute(SET_CONTEXT, (self.tenant, tenant_admin))
        (node,) = self.app.execute("select odl.odl_create_node(null, 'PORTFOLIO', 'bench')").fetchone()
        self.app.execute("select odl.odl_attach_project(%s, %s)", (self.project, node))
        self.app.execute("select odl.odl_assign_role(%s, %s, 'super_user')", (self.user, node))
        self.app.commit()
        schema = json.loads((TOP / "schemas" / "odl-sd-4.1.schema.json").read_text())
        self.app_validator = jsonschema.Draft202012Validator(schema)
        self.floors: dict[str, Floor] = {}
        self.serial = 0

    def close(self) -> None:
        self.app.close()
        self.su.close()

    def offset(self) -> int:
        """Where the patch counter of a new document starts."""
        self.serial += 1
        return self.serial * 100_000

    def create(self, label: str, toggle: bool = False) -> Document:
        self.app.execute(SET_CONTEXT, self.context)
        doc_id = self.app.execute(
            "select odl.odl_create_document(%s, %s)", (self.project, Jsonb(self.docs[label]))
        ).fetchone()[0]
        self.app.commit()
        return Document(self.app, self.context, doc_id, self.docs[label], self.offset(), toggle)

    def floor(self, label: str, source: Document) -> Floor:
        """A copy of a document's row (same table, same indexes), made by the
        superuser without the API."""
        if label not in self.floors:
            (doc_id,) = self.su.execute(
                "insert into odl.odl_documents (tenant_id, doc_id, project_id, schema_version, doc_json,"
                " doc_hash, version, created_by, updated_by)"
                " select tenant_id, odl.odl_ulid(), project_id, schema_version, doc_json, doc_hash, version,"
                " created_by, updated_by from odl.odl_documents where doc_id = %s returning doc_id",
                (source.doc_id,),
            ).fetchone()
            self.su.commit()
            self.floors[label] = Floor(self.su, self.tenant, doc_id)
        return self.floors[label]

    def table_sizes(self) -> dict[str, tuple[int, int, int]]:
        """Table -> (pg_total_relation_size, its TOAST with index, its indexes)."""
        rows = self.su.execute(
            "select c.relname, pg_total_relation_size(c.oid),"
            " coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0), pg_indexes_size(c.oid)"
            " from pg_class as c where c.oid in"
            " ('odl.odl_documents'::regclass, 'odl.odl_document_versions'::regclass, 'odl.odl_patches'::regclass)"
            " order by c.relname"
        ).fetchall()
        self.su.commit()
        return {name: (total, toast, indexes) for name, total, toast, indexes in rows}

    def vacuum(self, how: str) -> None:
        self.su.autocommit = True
        self.su.execute(f"vacuum {how} odl.odl_documents, odl.odl_document_versions, odl.odl_patches")
        self.su.autocommit = False

    # --- item 3: the history of a 1 MB document ------------------------------

    def size_history(self) -> dict:
        """SIZE_HISTORY patches to a 1 MB document, alone in the tables; then
        the three tables are weighed after vacuum, and again after vacuum full."""
        (others,) = self.su.execute("select count(*) from odl.odl_documents").fetchone()
        self.su.commit()
        if others:
            raise RuntimeError(f"the storage measurement needs empty tables; odl_documents holds {others} rows")
        doc = self.create("1 MB", toggle=True)
        autovacuums = self.autovacuums()
        with Stopwatch() as sw:
            for k in range(SIZE_HISTORY):
                doc.patch()
                if (k + 1) % 250 == 0:
                    self.ctx.log(f"history of the 1 MB document: {k + 1} patches")
        autovacuums = self.autovacuums() - autovacuums
        self.vacuum("")
        sizes = self.table_sizes()
        self.vacuum("full")
        compacted = self.table_sizes()
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
        return {"doc": doc, "seconds": sw.seconds, "sizes": sizes, "compacted": compacted, "counts": counts,
                "autovacuums": autovacuums}

    def autovacuums(self) -> int:
        """Autovacuum runs so far on the three tables and their TOAST tables."""
        (runs,) = self.su.execute(
            "select coalesce(sum(s.autovacuum_count), 0) from pg_stat_all_tables as s"
            " where s.relid in (select c.oid from pg_class as c where c.oid = any(%(tables)s::regclass[]))"
            " or s.relid in (select c.reltoastrelid from pg_class as c where c.oid = any(%(tables)s::regclass[]))",
            {"tables": ["odl.odl_documents", "odl.odl_document_versions", "odl.odl_patches"]},
        ).fetchone()
        self.su.commit()
        return int(runs)

    # --- items 1 and 2 ----------------------------------------------------------

    def latency(self, label: str) -> dict:
        api = self.create(label)
        floor = self.floor(label, api)
        (app_id,) = self.su.execute(
            "insert into bench.app_docs (id, doc, version) values (%s, %s, 1) returning id",
            (len(self.floors), Jsonb(self.docs[label])),
        ).fetchone()
        self.su.commit()
        app = App(self.su, app_id, self.docs[label], api.offset, self.app_validator)
        patch = Jsonb(Patches(self.docs[label], self.offset()).next())
        sides = {"odl-db": api.patch, "floor": floor.update, "app": app.patch,
                 "steps": lambda: self.steps(floor, patch)}
        times: dict[str, list] = {name: [] for name in sides}
        # One warm-up round at the first size: plans, caches, the validators.
        warmup = 1 if label == next(iter(SIZES)) else 0
        for round_ in range(warmup + ROUNDS[label]):
            order = list(sides)
            self.rng.shuffle(order)
            for name in order:
                result = sides[name]()
                if round_ >= warmup:
                    times[name].append(result)
        self._check_same(api, app_id)
        return {"api": api, "times": times}

    def _check_same(self, api: Document, app_id: int) -> None:
        """odl-db and the application side applied the same patches to the
        same document: the contents must agree, and the stored hash must be
        the RFC 8785 hash of the content."""
        self.app.execute(SET_CONTEXT, self.context)
        (ours,) = self.app.execute("select document from odl.odl_get_document(%s)", (api.doc_id,)).fetchone()
        (head_hash,) = self.app.execute(
            "select doc_hash from odl.odl_document_heads(%s) where doc_id = %s", (self.project, api.doc_id)
        ).fetchone()
        self.app.commit()
        (theirs,) = self.su.execute("select doc from bench.app_docs where id = %s", (app_id,)).fetchone()
        self.su.commit()
        if ours != theirs:
            raise RuntimeError("odl-db and the jsonpatch library disagree on the patched document")
        if canonical.content_hash(ours) != head_hash:
            raise RuntimeError("the stored doc_hash is not the content hash of the stored document")

    def steps(self, floor: Floor, patch: Jsonb) -> dict[str, float]:
        """Seconds of each step of a write, timed inside the server on the
        floor's copy of the document (pg_temp.bench_steps and
        pg_temp.bench_conversions)."""
        rows = self.su.execute(
            "select s.step, s.seconds from odl.odl_documents as d,"
            " pg_temp.bench_steps(d.doc_json, %s) as s where d.doc_id = %s",
            (patch, floor.doc_id),
        ).fetchall()
        rows += self.su.execute(
            "select 'to_python', c.to_python from odl.odl_documents as d,"
            " pg_temp.bench_conversions(d.doc_json) as c where d.doc_id = %(id)s"
            " union all select 'to_jsonb', c.to_jsonb from odl.odl_documents as d,"
            " pg_temp.bench_conversions(d.doc_json) as c where d.doc_id = %(id)s",
            {"id": floor.doc_id},
        ).fetchall()
        self.su.commit()
        return dict(rows)

    # --- item 3: a long history ---------------------------------------------------

    def long_history(self) -> dict:
        """Patches 1 to WINDOW and WINDOW patches around the LONG_HISTORY-th
        of one document, each paired with a floor update of the same size."""
        doc = self.create(LONG_HISTORY_SIZE)
        floor = self.floors[LONG_HISTORY_SIZE]

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
        floor = self.floors["1 MB"]
        expected = dict(self.su.execute(
            "select version, doc_hash from odl.odl_document_versions where doc_id = %s", (doc.doc_id,)
        ).fetchall())
        self.su.commit()
        # Each version once outside the timings, to check the content.
        for version in MIDDLE_VERSIONS + AFTER_SNAPSHOT_VERSIONS:
            self.app.execute(SET_CONTEXT, self.context)
            (content,) = self.app.execute(
                "select document from odl.odl_get_document(%s, %s)", (doc.doc_id, version)
            ).fetchone()
            self.app.commit()
            if canonical.content_hash(content) != expected[version]:
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

    # --- item 5 -------------------------------------------------------------------------

    def validation(self) -> dict:
        floor = self.floors["1 MB"]
        modules = self.su.execute("select module, source from odl.python_modules order by module").fetchall()
        schema_text, doc_text = self.su.execute(
            "select (select schema::text from odl.json_schemas where version = '4.1'),"
            " (select doc_json::text from odl.odl_documents where doc_id = %s)",
            (floor.doc_id,),
        ).fetchone()
        server_versions = self.su.execute("select * from pg_temp.bench_versions()").fetchone()
        self.su.commit()
        with tempfile.TemporaryDirectory() as where:
            for module, source in modules:
                path = Path(where, *module.split("."))
                if module == "odl_db":
                    path = path / "__init__"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.with_suffix(".py").write_text(source)
            process = subprocess.Popen(
                ["/usr/bin/python3", "-c", VALIDATOR_PROCESS, where],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            try:
                process.stdin.write(schema_text + "\n" + doc_text + "\n")
                process.stdin.flush()
                process_versions = tuple(json.loads(process.stdout.readline()))

                def bare() -> float:
                    process.stdin.write("1\n")
                    process.stdin.flush()
                    return json.loads(process.stdout.readline())[0]

                def server() -> float:
                    (seconds,) = self.su.execute(
                        "select pg_temp.bench_validate(doc_json, 1) from odl.odl_documents where doc_id = %s",
                        (floor.doc_id,),
                    ).fetchone()
                    self.su.commit()
                    return seconds[0]

                sides = {"server": server, "bare": bare}
                times: dict[str, list] = {name: [] for name in sides}
                for round_ in range(VALIDATION_ROUNDS + 1):
                    order = list(sides)
                    self.rng.shuffle(order)
                    for name in order:
                        seconds = sides[name]()
                        if round_:  # the first round compiles the validators
                            times[name].append(seconds)
            finally:
                process.stdin.close()
                process.wait()
        if process.returncode:
            raise RuntimeError(f"the validator subprocess failed ({process.returncode})")
        return {"times": times, "server_versions": tuple(server_versions), "process_versions": process_versions}

    # --- item 4 -------------------------------------------------------------------------

    def throughput(self) -> dict:
        docs = [self.create("10 KB") for _ in range(CLIENTS)]
        for k in range(CLIENTS):
            self.su.execute("insert into bench.plain (id, doc) values (%s, %s)", (k, Jsonb(self.docs["10 KB"])))
        self.su.commit()
        spawn = multiprocessing.get_context("spawn")
        pipes, workers = [], []
        for k, doc in enumerate(docs):
            mine, theirs = spawn.Pipe()
            worker = spawn.Process(
                target=_throughput_worker, daemon=True,
                args=(self.ctx.dbname, theirs, self.context, doc.doc_id, doc.offset, k),
            )
            worker.start()
            pipes.append(mine)
            workers.append(worker)
        try:
            for pipe in pipes:
                if pipe.recv() != "ready":
                    raise RuntimeError("a throughput client did not start")
            per_write: dict[str, list[float]] = {"odl-db": [], "plain": []}
            rates: dict[str, list[float]] = {"odl-db": [], "plain": []}
            patches = 0
            for _ in range(SLOTS):
                order = list(per_write)
                self.rng.shuffle(order)
                for side in order:
                    start = time.time() + 0.3
                    for pipe in pipes:
                        pipe.send((side, start, start + SLOT_SECONDS))
                    results = [pipe.recv() for pipe in pipes]
                    rate = sum(writes / seconds for writes, seconds, _ in results)
                    rates[side].append(rate)
                    per_write[side].append(1e3 / rate)
                    if side == "odl-db":
                        patches += sum(writes for writes, _, _ in results)
                        versions = [version for _, _, version in results]
            for pipe in pipes:
                pipe.send(None)
        finally:
            for worker in workers:
                worker.join(timeout=30)
                if worker.is_alive():
                    worker.kill()
        self.app.execute(SET_CONTEXT, self.context)
        stored = dict(self.app.execute(
            "select doc_id, version from odl.odl_document_heads(%s)", (self.project,)
        ).fetchall())
        self.app.commit()
        if sum(stored[doc.doc_id] - 1 for doc in docs) != patches or [stored[d.doc_id] for d in docs] != versions:
            raise RuntimeError("the throughput clients' patches and the stored versions disagree")
        return {"per_write": per_write, "rates": rates, "patches": patches}


def run(ctx: Context) -> Section:
    bench = Bench(ctx)
    phases: dict[str, float] = {}
    try:
        with one_cpu(bench.app, bench.su) as pinning:
            with Stopwatch() as sw:
                history = bench.size_history()
            phases[f"{SIZE_HISTORY:,} patches to a 1 MB document and vacuum"] = sw.seconds
            ctx.log(f"{SIZE_HISTORY:,} patches to the 1 MB document in {history['seconds']:.0f} s")
            latency = {}
            for label in SIZES:
                with Stopwatch() as sw:
                    latency[label] = bench.latency(label)
                phases[f"items 1-2 at {label}"] = sw.seconds
                ctx.log(f"patch latency at {label}: {sw.seconds:.0f} s")
            with Stopwatch() as sw:
                long = bench.long_history()
            phases[f"{LONG_HISTORY:,} patches"] = sw.seconds
            ctx.log(f"{LONG_HISTORY:,} patches to the {LONG_HISTORY_SIZE} document in {sw.seconds:.0f} s")
            with Stopwatch() as sw:
                reads = bench.read_back(history["doc"])
            phases["reading back"] = sw.seconds
            with Stopwatch() as sw:
                validation = bench.validation()
            phases["validation"] = sw.seconds
        with Stopwatch() as sw:
            throughput = bench.throughput()
        phases["throughput"] = sw.seconds
    finally:
        bench.close()

    rows = _rows(ctx, latency, long, history, reads, throughput, validation)
    return Section(
        compared=_compared(),
        method=_method(bench, pinning, validation),
        rows=rows,
        baseline_name="baseline",
        candidate_name="odl-db",
        notes=_notes(latency, history, throughput, validation),
        facts={"phases": ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items())},
    )


def _unit(label: str) -> tuple[str, float]:
    return ("µs", 1e6) if label == "10 KB" else ("ms", 1e3)


def _rows(ctx, latency, long, history, reads, throughput, validation) -> list[Row]:
    rows: list[Row] = []
    for label in SIZES:
        unit, scale = _unit(label)
        t = latency[label]["times"]
        rows.append(compare(
            f"1. patch latency, {label}: `odl_apply_patch` (10 operations) vs floor (one `jsonb_set` "
            "`update` of a row of the same table)",
            f"{unit}/patch", [x * scale for x in t["floor"]], [x[0] * scale for x in t["odl-db"]],
            None if label == "10 KB" else GOALS["floor"], ctx.seed,
        ))
    for label in SIZES:
        unit, scale = _unit(label)
        t = latency[label]["times"]
        rows.append(compare(
            f"2. against the application, {label}: odl-db transaction vs fetch, `jsonpatch`, `jsonschema`, "
            "write back",
            f"{unit}/patch", [x * scale for x in t["app"]], [x[1] * scale for x in t["odl-db"]],
            GOALS["app"] if label == "1 MB" else None, ctx.seed,
        ))
    late = long["late_first"]
    windows = f"patches {late:,}–{late + WINDOW - 1:,} vs patches 1–{WINDOW} of the same document"
    rows.append(_ratio_of_medians(
        f"3. long history, {LONG_HISTORY_SIZE}: {windows}",
        "µs/patch", [x * 1e6 for x in long["early"]], [x * 1e6 for x in long["late"]], GOALS["history"], ctx.seed,
    ))
    rows.append(_ratio_of_medians(
        f"3. long history, {LONG_HISTORY_SIZE}: the same, each patch as a multiple of the floor update "
        "interleaved with it",
        "× floor", [p / f for p, f in zip(long["early"], long["early_floor"])],
        [p / f for p, f in zip(long["late"], long["late_floor"])], None, ctx.seed,
    ))
    total = sum(size for size, _, _ in history["sizes"].values()) / 1e6
    rows.append(Row(
        f"3. storage, 1 MB: the document and its {SIZE_HISTORY:,} patches after `vacuum` "
        f"(`pg_total_relation_size` of the three tables) vs a {SIZE_BUDGET_MB:.0f} MB budget",
        "MB", SIZE_BUDGET_MB, total, total / SIZE_BUDGET_MB, goal=GOALS["size"],
    ))
    for kind, versions, text in (
        ("middle", MIDDLE_VERSIONS, "50 patches from the nearest snapshot"),
        ("after", AFTER_SNAPSHOT_VERSIONS, "one patch after a snapshot"),
    ):
        shown = ", ".join(f"{v:,}" for v in versions[:3]) + (", …" if len(versions) > 3 else "")
        rows.append(compare(
            f"3. reading back, 1 MB: `odl_get_document(id, v)` for v = {shown} ({text}) vs floor",
            "ms/read", [x * 1e3 for x in reads[kind]["floor"]], [x * 1e3 for x in reads[kind]["read"]],
            GOALS["read"], ctx.seed,
        ))
    rows.append(compare(
        f"4. throughput, 10 KB, {CLIENTS} clients: wall time per committed patch vs per plain primary-key "
        "`update` (≤ 4 means ≥ 25% of the throughput)",
        "µs/write", [x * 1e3 for x in throughput["per_write"]["plain"]],
        [x * 1e3 for x in throughput["per_write"]["odl-db"]], GOALS["throughput"], ctx.seed,
    ))
    rows.append(compare(
        "5. validation, 1 MB: `odl_db.validation.schema_errors` inside the server vs in a bare "
        "`/usr/bin/python3`",
        "ms/validation", [x * 1e3 for x in validation["times"]["bare"]],
        [x * 1e3 for x in validation["times"]["server"]], GOALS["validation"], ctx.seed,
    ))
    return rows


def _compared() -> str:
    return (
        "Writing, keeping and reading ODL-SD documents through odl-db's API, as `odl_app` after "
        "`odl_set_context(tenant, user)`, against a baseline for each question, measured in the same "
        "run and interleaved with it:\n\n"
        "1. **Patch latency**: `odl_apply_patch()` of a ten-operation patch (lock, version check, "
        "apply, validate, hash, update, append the version and the patch) against a **floor**: one "
        "superuser `update odl.odl_documents set doc_json = jsonb_set(doc_json, '{finance,opex_per_year}', "
        "…)` of a copy of the document's row: the same table, TOAST and GIN (`jsonb_path_ops`) index, no "
        "checks, no history. Goal: at most 3× the floor at 1 MB and 10 MB.\n"
        "2. **Against the application without odl-db**: fetch the document with psycopg, apply the same "
        "patch with the `jsonpatch` library, validate it with the `jsonschema` library, write it back "
        "with `update bench.app_docs set doc = $1, version = version + 1 where id = $2 and version = $3`. "
        "Goal: odl-db at least 5× faster at 1 MB (ratio ≤ 0.20).\n"
        f"3. **History**: patches around the {LONG_HISTORY:,}th of a document against its first ones (goal: "
        "within 10%); "
        f"the storage of a 1 MB document after {SIZE_HISTORY:,} ten-operation patches (goal: at most "
        f"{SIZE_BUDGET_MB:.0f} MB); reading back a past version against the floor of item 1 (goal: at most 5×).\n"
        f"4. **Throughput**: {CLIENTS} concurrent clients patching their own 10 KB documents against "
        f"{CLIENTS} clients running plain primary-key updates of a 10 KB `jsonb` (goal: at least 25% of "
        "their throughput).\n"
        "5. **Validation**: `odl_db.validation.schema_errors()` on a 1 MB document inside the server "
        "(PL/Python) against the same modules in a bare `/usr/bin/python3`, the interpreter and "
        "jsonschema release the server uses (goal: at most 2× slower)."
    )


def _method(bench: Bench, pinning: str, validation: dict) -> str:
    docs = "; ".join(
        f"{label}: {odlsd.compact_size(doc):,} bytes of compact JSON, {len(doc['instances']):,} instances, "
        f"{len(doc['connections']):,} connections"
        for label, doc in bench.docs.items()
    )
    server_python, server_jsonschema = validation["server_versions"]
    bare_python, bare_jsonschema = validation["process_versions"]
    return (
        f"- Documents: `fixtures/odlsd.generate(size, seed={SEED})` ({docs}), each created with "
        "`odl_create_document()` in one tenant and project, by a user holding `super_user` (the one role "
        "with W on every section) through an assignment at the PORTFOLIO node the project is attached "
        "to, so every patch passes the access checks and is applied. Every document measured is a new one.\n"
        "- The patch (`Patches` in the script): `test` /schema_version; `replace` the lifecycle_status of "
        "three instances spread over the document and the kind of a connection; `add` "
        "/meta/timestamps/updated_at; `replace` /requirements/export_limit_w, /analysis/0/p50_mwh and "
        "/esg/land_use_ha; `add` a work order to /operations/work_orders (even patches) or `remove` it (odd "
        "ones), so documents keep their size. Values come from a counter per document, so no version "
        "repeats any earlier one, of any document: the server keeps validation results by content hash "
        "(256 per backend), and a repeated content would skip validation.\n"
        "- Items 1 and 2, per size: "
        + ", ".join(f"{ROUNDS[label]} rounds at {label}" for label in SIZES)
        + " (few at 10 MB, where a round takes seconds), after one warm-up round at 10 KB. A round runs "
        "three writes (and the step timings of the notes) in shuffled order, each its own transaction on "
        "a long-lived TCP connection: "
        "**odl-db** (`begin`, `odl_set_context()`, `select … from odl_apply_patch(id, patch, expected_version)`, "
        "`commit`), the **floor** (`begin`, `select 1`, the `update`, `commit`, as the superuser, which "
        "bypasses RLS) and the **application** (below). Item 1 times the statement and the commit on both "
        "sides; item 2 times the whole odl-db transaction, `odl_set_context()` included, against the "
        "application's whole fetch-patch-validate-write. Ratios are medians of per-round ratios with a "
        "95% bootstrap interval (`harness.compare`); the time columns are each side's median.\n"
        "- The application side: `jsonpatch.apply_patch(doc, patch, in_place=True)` (jsonpatch "
        f"{_version('jsonpatch')}), then `list(Draft202012Validator(schema).iter_errors(doc))` (jsonschema "
        f"{_version('jsonschema')} in the client venv, compiled once from `schemas/odl-sd-4.1.schema.json`, "
        "no format checker, as the library defaults), then the versioned `update` of `bench.app_docs` "
        "(`id integer primary key, doc jsonb, version integer`: no GIN index, no history, no hash). So "
        "the application does less than odl-db: it keeps no history, checks no formats and maintains no "
        "index. After the rounds both documents must be equal, and the stored `doc_hash` must be the "
        "RFC 8785 hash of the stored document (computed again by the client).\n"
        f"- Item 3, long history: a new {LONG_HISTORY_SIZE} document; patches 1–{WINDOW} timed "
        f"(statement and commit), then patches up to {LONG_HISTORY - WINDOW // 2 - 1:,} untimed, then "
        f"{WINDOW} more timed, each timed patch paired with a floor update of a {LONG_HISTORY_SIZE} row in "
        "shuffled order. The two windows cannot be paired with each other: the ratio is that of their "
        "medians, with a bootstrap interval that resamples each window on its own; the second row "
        "divides each patch by its floor update first, which takes out a change of the machine's load "
        "between the two windows.\n"
        f"- Item 3, storage: first of all, while the tables hold nothing else, {SIZE_HISTORY:,} patches to "
        "a new 1 MB document, one transaction each; then `vacuum` of `odl_documents`, "
        "`odl_document_versions` and `odl_patches` and the sum of their `pg_total_relation_size` (heap, "
        "TOAST, indexes); then `vacuum full` and the same sum again, for the notes. These patches use "
        "values that alternate between two settings, so from the 4th patch on the versions alternate "
        "between two contents and the server answers validation from its result cache: that only makes "
        "the load faster (patches, inverses and snapshots have the same sizes as with fresh values).\n"
        "- Item 3, reading back: each version of that document listed in the table is first read once and "
        "its RFC 8785 hash checked against the hash recorded for the version; then each is read "
        f"{READ_ROUNDS}× in random order, each read paired with a floor update of a 1 MB row. The read is "
        "`select pg_column_size(document) from odl_get_document(id, v)`: the server rebuilds the whole "
        "version but sends back only its size, as the floor sends nothing.\n"
        f"- Item 4: {CLIENTS} client processes, each with its own connections and its own row: odl-db "
        "patches a 10 KB document of its own (`begin`, `odl_set_context()`, `odl_apply_patch()`, `commit`); "
        "plain runs autocommit `update bench.plain set doc = jsonb_set(doc, '{finance,opex_per_year}', …) "
        f"where id = $1` (primary key only). {SLOTS} slots of {SLOT_SECONDS:.0f} s per side, alternating in "
        "shuffled order; a slot's throughput is the sum of the clients' writes per second, shown as wall "
        "time per write (1 / throughput). The clients share the machine's CPUs with the server, as an "
        "application on the same host would. Afterwards the documents' versions must match the patches "
        "the clients counted.\n"
        f"- Item 5: {VALIDATION_ROUNDS} rounds after one that compiles the validators, each running both "
        "sides once in shuffled order on the same 1 MB document. In the server a temporary PL/Python "
        "function loads `odl_db` as `odl.document_write()` does (`select odl.python_boot()`), takes the "
        "document through the jsonb transform and times `validation.schema_errors()` alone. The bare "
        "process runs the modules the server runs (read from `odl.python_modules`), on the schema and the "
        "document read as the transform gives them (every number a Decimal), and times the same call. "
        f"Server: Python {server_python}, jsonschema {server_jsonschema}; bare process: Python "
        f"{bare_python}, jsonschema {bare_jsonschema}.\n"
        f"- Items 1–3 and 5: {pinning} (see harness.one_cpu), so each comparison runs on one CPU; item 4 "
        "is not pinned."
    )


def _version(package: str) -> str:
    from importlib import metadata

    return metadata.version(package)


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.2f}" if ms < 10 else f"{ms:,.0f}"


STEP_LABELS = (
    ("to_python", "jsonb → Python (the jsonb_plpython3u transform)"),
    ("change", "`documents.change()`: patch, hash and check as a write does (no cached result)"),
    ("hash", "· in it: the RFC 8785 hash of the whole document (timed alone)"),
    ("integrity", "· in it: the integrity rules over the whole document (timed alone)"),
    ("change_rest", "· in it, the rest (the difference): apply the patch, validate against the schema where it wrote"),
    ("to_jsonb", "Python → jsonb (the transform; the document only)"),
    ("rest", "the rest: PL/pgSQL, lock, `update` (TOAST, GIN), history inserts, commit, round trip"),
    ("patch", "**`odl_apply_patch()` and commit (item 1 median)**"),
    ("floor", "the floor (item 1 median)"),
    ("validation", "for reference: a full schema validation of the document, as `odl_create_document()` does"),
)


def _notes(latency, history, throughput, validation) -> str:
    steps: dict[str, dict[str, float]] = {}
    for label in SIZES:
        times = latency[label]["times"]
        for t in times["steps"]:
            t["change_rest"] = t["change"] - t["hash"] - t["integrity"]
        step = {name: statistics.median(t[name] for t in times["steps"]) for name in times["steps"][0]}
        step["patch"] = statistics.median(x[0] for x in times["odl-db"])
        step["floor"] = statistics.median(times["floor"])
        step["rest"] = step["patch"] - step["to_python"] - step["change"] - step["to_jsonb"]
        steps[label] = step
    lines = [
        "| step (medians) | " + " | ".join(f"{label}: ms | share" for label in SIZES) + " |",
        "|---|" + "--:|--:|" * len(SIZES),
    ]
    for name, text in STEP_LABELS:
        cells = []
        for label in SIZES:
            seconds, share = steps[label][name], steps[label][name] / steps[label]["patch"]
            if seconds < 0:  # a difference of two timings, smaller than their noise
                cells += ["~0", "~0%"]
            else:
                cells += [f"**{_ms(seconds)}**" if name == "patch" else _ms(seconds), f"{share:.0%}"]
        lines.append(f"| {text} | " + " | ".join(cells) + " |")
    python_share = ", ".join(
        f"{(steps[label]['to_python'] + steps[label]['change'] + steps[label]['to_jsonb']) / steps[label]['patch']:.0%}"
        f" at {label}"
        for label in SIZES
    )
    per_mb = ", ".join(
        f"{steps[label]['to_python'] / (SIZES[label] / 1e6) * 1e3:.0f} ms per MB at {label}" for label in SIZES
    )

    sizes, compacted = history["sizes"], history["compacted"]
    total = sum(size for size, _, _ in sizes.values())
    table_lines = [
        "| table | after `vacuum`, MB | of which TOAST | of which indexes | after `vacuum full`, MB |",
        "|---|--:|--:|--:|--:|",
    ]
    for name in sizes:
        size, toast, indexes = sizes[name]
        table_lines.append(
            f"| `odl.{name}` | {size / 1e6:.1f} | {toast / 1e6:.1f} | {indexes / 1e6:.1f} "
            f"| {compacted[name][0] / 1e6:.1f} |"
        )
    table_lines.append(
        f"| all three | **{total / 1e6:.1f}** | | | "
        f"**{sum(size for size, _, _ in compacted.values()) / 1e6:.1f}** |"
    )
    versions, snapshots, patches, head_bytes, patch_bytes = history["counts"]
    rates = throughput["rates"]
    api_rate, plain_rate = statistics.median(rates["odl-db"]), statistics.median(rates["plain"])
    server = statistics.median(validation["times"]["server"])
    bare = statistics.median(validation["times"]["bare"])

    return (
        "**Where the time of a patch goes.** In every round of items 1 and 2 a fourth step, in the "
        "shuffled order with the others, times inside the server what `odl.document_write()` does, on "
        "the floor's copy of the document with a patch like the others (`pg_temp.bench_steps`, "
        "`pg_temp.bench_conversions`); shares are of the median `odl_apply_patch()`, and the rest is "
        "the difference:\n\n"
        + "\n".join(lines)
        + f"\n\nPython (conversions and `documents.change()`) takes {python_share} of a patch. "
        f"The jsonb → Python conversion costs {per_mb}.\n\n"
        f"**Storage after {SIZE_HISTORY:,} patches to the 1 MB document** ({versions:,} versions, "
        f"{snapshots} of them full snapshots; {patches:,} patches of {float(patch_bytes):,.0f} bytes each "
        f"with their inverse; the current document takes {head_bytes / 1e3:,.0f} kB compressed; "
        f"{history['seconds']:.0f} s to write; autovacuum ran {history['autovacuums']} times on these "
        "tables during the load, so the figure after `vacuum` depends on when it ran):\n\n"
        + "\n".join(table_lines)
        + "\n\n"
        "Every patch rewrites the current document in `odl_documents`: a new compressed TOAST value and "
        f"new GIN entries, so without any vacuum the {SIZE_HISTORY:,} patches would leave about "
        f"{head_bytes * SIZE_HISTORY / 1e6:,.0f} MB of dead TOAST values behind. `vacuum` frees them for "
        "reuse but returns no space to the file system; `vacuum full` shows what the document and its "
        "history take once compacted.\n\n"
        f"**Throughput.** odl-db {api_rate:,.0f} patches/s against {plain_rate:,.0f} plain updates/s "
        f"(medians of the slots; {throughput['patches']:,} patches in all), that is "
        f"{api_rate / plain_rate:.1%} of the plain throughput.\n\n"
        f"**Validation.** {server * 1e3:,.0f} ms in the server against {bare * 1e3:,.0f} ms in the bare "
        "process (medians)."
    )
