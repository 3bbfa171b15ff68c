"""Components projection: what the components projector adds to a write.

The same call with the `components` projector enabled against it disabled
(`odl.document_projectors.enabled`), in the same run, on a generated 10 KB
document (fixtures/odlsd.py) whose library components carry the
supplement's record (component_management):

1. `odl_apply_patch()` with a ten-operation patch of instances (as
   bench_projection's), which the components projector only reads the
   changed pointers of;
2. `odl_set_component_status()` moving one component between approved and
   available, which the projector re-projects and checks against the
   status machine (the author's and approver's roles, the transition, its
   required fields).

Each side writes its own copy of the document, so that the enabled side's
index stays equal to its document throughout.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from harness import Context, Section, Stopwatch, compare, one_cpu

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "fixtures"))

import odlsd  # noqa: E402

TITLE = "Components projection"

SIZE = 10_000
SEED = 7
ROUNDS = 40
STATUSES = ("planned", "procured", "installed", "commissioned", "operational", "maintenance", "decommissioned")

SET_CONTEXT = "select odl.odl_set_context(%s, %s)"
APPLY = "select version from odl.odl_apply_patch(%s, %s, %s)"
SET_STATUS = "select version from odl.odl_set_component_status(%s, %s, %s, %s)"
TOGGLE = "update odl.document_projectors set enabled = %s where projector = 'components'"


def with_records(doc: dict) -> dict:
    """The document with a full component_management record on each component."""
    for n, component in enumerate(doc["libraries"]["components"]):
        part = f"P{n:03d}"
        component["component_management"] = {
            "status": "approved",
            "component_identity": {
                "component_id": f"CMP:ACME:{part}:400W:A", "brand": "ACME", "part_number": part, "rating_w": 400,
                "classification": {"unspsc": "26111700"},
            },
            "source_documents": {"datasheet": {"type": "datasheet", "url": f"https://docs.example.com/{part}.pdf"}},
            "tracking_policy": {"level": "serial"},
            "supplier_chain": {
                "suppliers": [{"id": "SUP-001", "name": "Acme Supply", "status": "approved"}],
                "commercials": {"margins": {"total_margin_pct": 12.5, "currency": "EUR", "net_price": 112.5}},
            },
            "approvals": {"requested": True, "records": [{"role": "expert", "outcome": "approved"}]},
        }
    return doc


class Document:
    def __init__(self, bench: Bench):
        self.bench = bench
        self.doc = with_records(odlsd.generate(SIZE, SEED))
        self.instances = len(self.doc["instances"])
        self.parents = sorted({i["parent_ref"] for i in self.doc["instances"] if "parent_ref" in i})
        self.component = self.doc["libraries"]["components"][0]["id"]
        self.status = "approved"
        app = bench.app
        app.execute(SET_CONTEXT, bench.context)
        self.doc_id = app.execute(
            "select odl.odl_create_document(%s, %s)", (bench.project, Jsonb(self.doc))
        ).fetchone()[0]
        app.commit()
        self.version = 1
        self.count = 0

    def fields_patch(self) -> list[dict]:
        n = self.count
        patch = []
        for j in range(5):
            index = (j * self.instances // 5 + n * 7) % self.instances
            patch.append({"op": "add", "path": f"/instances/{index}/lifecycle_status",
                          "value": STATUSES[(n + j) % len(STATUSES)]})
            patch.append({"op": "add", "path": f"/instances/{index}/parent_ref",
                          "value": self.parents[(n + j) % len(self.parents)]})
        return patch

    def write(self, kind: str) -> float:
        self.count += 1
        cur = self.bench.app.cursor()
        cur.execute(SET_CONTEXT, self.bench.context, prepare=True)
        with Stopwatch() as started:
            if kind == "fields":
                cur.execute(APPLY, (self.doc_id, Jsonb(self.fields_patch()), self.version), prepare=True)
            else:
                self.status = "available" if self.status == "approved" else "approved"
                cur.execute(SET_STATUS, (self.doc_id, self.component, self.status, self.version), prepare=True)
            (version,) = cur.fetchone()
            self.bench.app.commit()
        if version != self.version + 1:
            raise RuntimeError(f"the write returned version {version} after {self.version}")
        self.version = version
        return started.seconds


class Bench:
    """A tenant whose user holds expert and supplier_manager at the node of
    one project: together they may move a component approved -> available
    (expert approves) and back (supplier_manager)."""

    def __init__(self, ctx: Context):
        with ctx.connect(user="postgres", autocommit=True) as admin:
            admin.execute("set role odl_admin")
            self.tenant = admin.execute("select odl.odl_create_tenant('components', 'EU')").fetchone()[0]
            tenant_admin = admin.execute(
                "select odl.odl_create_user(%s, 'admin@example.com', 'super_user')", (self.tenant,)
            ).fetchone()[0]
            self.user = admin.execute(
                "select odl.odl_create_user(%s, 'bench@example.com', 'expert')", (self.tenant,)
            ).fetchone()[0]
        self.context = (self.tenant, self.user)
        self.su = ctx.connect(user="postgres")
        self.app = ctx.connect(user="odl_app")
        self.app.execute(SET_CONTEXT, (self.tenant, tenant_admin))
        self.project = self.app.execute("select odl.odl_create_project('components')").fetchone()[0]
        (node,) = self.app.execute("select odl.odl_create_node(null, 'PORTFOLIO', 'components')").fetchone()
        self.app.execute("select odl.odl_attach_project(%s, %s)", (self.project, node))
        for role in ("super_user", "expert", "supplier_manager"):
            self.app.execute("select odl.odl_assign_role(%s, %s, %s)", (self.user, node, role))
        self.app.commit()

    def projector(self, enabled: bool) -> None:
        self.su.execute(TOGGLE, (enabled,))
        self.su.commit()

    def rows_equal_a_rebuild(self, doc: Document) -> bool:
        query = "select array_agg(i order by i.component_key) from odl.component_index as i where i.doc_id = %s"
        before = self.su.execute(query, (doc.doc_id,)).fetchone()[0]
        self.su.execute("select odl.rebuild_components(%s)", (doc.doc_id,))
        after = self.su.execute(query, (doc.doc_id,)).fetchone()[0]
        self.su.rollback()
        return before == after


def measure(bench: Bench, pair: dict[str, Document], kind: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"off": [], "on": []}
    for r in range(ROUNDS + 1):
        for side in (("off", "on") if r % 2 else ("on", "off")):
            bench.projector(side == "on")
            seconds = pair[side].write(kind)
            if side == "off" and kind == "status":
                # odl_set_component_status() finds the component in the
                # index, which nothing keeps while the projector is off:
                # set the row as the projector would have, untimed.
                bench.su.execute(
                    "update odl.component_index set status = %s where doc_id = %s and component_key = %s",
                    (pair[side].status, pair[side].doc_id, pair[side].component),
                )
                bench.su.commit()
            if r:
                out[side].append(seconds)
    bench.projector(True)
    return out


def run(ctx: Context) -> Section:
    with Stopwatch() as sw:
        bench = Bench(ctx)
        pair = {side: Document(bench) for side in ("off", "on")}
    results = {}
    try:
        with one_cpu(bench.app, bench.su) as pinning:
            for kind in ("fields", "status"):
                ctx.log(f"{kind}: {ROUNDS} rounds")
                results[kind] = measure(bench, pair, kind)
            check = "equal" if bench.rows_equal_a_rebuild(pair["on"]) else "DIFFERENT"
    finally:
        bench.app.close()
        bench.su.close()
    labels = {
        "fields": "10 KB: `odl_apply_patch`, 10 operations on 5 instances (no component touched)",
        "status": "10 KB: `odl_set_component_status`, approved <-> available (re-projected and checked)",
    }
    rows = [
        compare(f"{labels[kind]}, projector enabled vs disabled", "ms/write",
                [x * 1e3 for x in t["off"]], [x * 1e3 for x in t["on"]], None, ctx.seed)
        for kind, t in results.items()
    ]
    return Section(
        compared="Writes with the `components` projector enabled against the same writes with it disabled: what "
        "keeping `odl.component_index` equal to the documents, and checking the status machine, adds.",
        method="\n".join([
            f"- A document from `fixtures/odlsd.py` ({SIZE:,} bytes, seed {SEED}) whose components get a full "
            "component_management record, created through the API; each write is its own transaction, timed "
            "from the statement to the end of the commit.",
            f"- {ROUNDS} rounds per kind after one warm-up round, each writing once with the projector disabled "
            "and once enabled, in alternating order, each side to its own copy of the document. Ratios are "
            "medians of the per-round ratios, with a 95% bootstrap interval.",
            f"- {pinning} (see harness.one_cpu).",
        ]),
        rows=rows,
        notes=f"After the rounds, the index equals a rebuild from the stored document: {check}.",
        facts={"setup": f"{sw.seconds:.1f} s"},
        baseline_name="disabled",
        candidate_name="enabled",
    )
