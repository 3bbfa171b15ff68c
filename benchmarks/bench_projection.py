"""Instances projection: what the instances projector adds to a write.

`odl_apply_patch()` with the `instances` projector enabled against the same
call with it disabled (`odl.document_projectors.enabled`), in the same run,
on generated documents of 10 KB and 1 MB (fixtures/odlsd.py):

1. a ten-operation patch replacing fields of instances spread over the
   document (lifecycle_status and parent_ref), which the projector
   re-projects instance by instance;
2. a patch appending an instance, which the writer reports as a change of
   `/instances`, so the projector compares the whole array with its rows.

Disabled, the writer still calls `odl.run_projectors()`, which finds no
projector to run: the difference is the projector's own work. Each side
writes its own copy of the document, so that the enabled side's projection
stays equal to its document throughout.
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

TITLE = "Instances projection"

SIZES = {"10 KB": 10_000, "1 MB": 1_000_000}
SEED = 7
ROUNDS = {"10 KB": 40, "1 MB": 20}   # per size and patch kind, after one warm-up round
STATUSES = ("planned", "procured", "installed", "commissioned", "operational", "maintenance", "decommissioned")

SET_CONTEXT = "select odl.odl_set_context(%s, %s)"
APPLY = "select version from odl.odl_apply_patch(%s, %s, %s)"
TOGGLE = "update odl.document_projectors set enabled = %s where projector = 'instances'"


class Document:
    """A document written through the API, and the patches of both kinds."""

    def __init__(self, bench: Bench, label: str):
        self.bench = bench
        self.doc = odlsd.generate(SIZES[label], SEED)
        self.instances = len(self.doc["instances"])
        parents = sorted({i["parent_ref"] for i in self.doc["instances"] if "parent_ref" in i})
        self.parents = parents
        self.template = {k: v for k, v in self.doc["instances"][-1].items() if k in ("type_ref", "parent_ref")}
        app = bench.app
        app.execute(SET_CONTEXT, bench.context)
        self.doc_id = app.execute(
            "select odl.odl_create_document(%s, %s)", (bench.project, Jsonb(self.doc))
        ).fetchone()[0]
        app.commit()
        self.version = 1
        self.count = 0

    def fields_patch(self) -> list[dict]:
        """Ten replaces of lifecycle_status and parent_ref, five instances."""
        n = self.count
        patch = []
        for j in range(5):
            index = (j * self.instances // 5 + n * 7) % self.instances
            patch.append({"op": "add", "path": f"/instances/{index}/lifecycle_status",
                          "value": STATUSES[(n + j) % len(STATUSES)]})
            patch.append({"op": "add", "path": f"/instances/{index}/parent_ref",
                          "value": self.parents[(n + j) % len(self.parents)]})
        return patch

    def add_patch(self) -> list[dict]:
        """One new instance at the end of /instances."""
        return [{"op": "add", "path": "/instances/-",
                 "value": {"id": f"BENCH-{self.count:05d}", **self.template, "lifecycle_status": "planned"}}]

    def write(self, patch: list[dict]) -> float:
        """One patch in its own transaction; seconds of the statement and the commit."""
        self.count += 1
        cur = self.bench.app.cursor()
        cur.execute(SET_CONTEXT, self.bench.context, prepare=True)
        started = Stopwatch()
        with started:
            cur.execute(APPLY, (self.doc_id, Jsonb(patch), self.version), prepare=True)
            (version,) = cur.fetchone()
            self.bench.app.commit()
        if version != self.version + 1:
            raise RuntimeError(f"odl_apply_patch returned version {version} after {self.version}")
        self.version = version
        return started.seconds


class Bench:
    """A tenant whose user holds super_user at the node of one project."""

    def __init__(self, ctx: Context):
        with ctx.connect(user="postgres", autocommit=True) as admin:
            admin.execute("set role odl_admin")
            self.tenant = admin.execute("select odl.odl_create_tenant('projection', 'EU')").fetchone()[0]
            tenant_admin = admin.execute(
                "select odl.odl_create_user(%s, 'admin@example.com', 'super_user')", (self.tenant,)
            ).fetchone()[0]
            self.user = admin.execute(
                "select odl.odl_create_user(%s, 'bench@example.com', 'engineer')", (self.tenant,)
            ).fetchone()[0]
        self.context = (self.tenant, self.user)
        self.su = ctx.connect(user="postgres")
        self.app = ctx.connect(user="odl_app")
        self.app.execute(SET_CONTEXT, self.context)
        self.project = self.app.execute("select odl.odl_create_project('projection')").fetchone()[0]
        self.app.commit()
        self.app.execute(SET_CONTEXT, (self.tenant, tenant_admin))
        (node,) = self.app.execute("select odl.odl_create_node(null, 'PORTFOLIO', 'projection')").fetchone()
        self.app.execute("select odl.odl_attach_project(%s, %s)", (self.project, node))
        self.app.execute("select odl.odl_assign_role(%s, %s, 'super_user')", (self.user, node))
        self.app.commit()

    def projector(self, enabled: bool) -> None:
        self.su.execute(TOGGLE, (enabled,))
        self.su.commit()

    def rows_equal_a_rebuild(self, doc: Document) -> bool:
        """The projection after the rounds, against a rebuild from the stored
        document (in a transaction rolled back)."""
        before = self.su.execute(
            "select array_agg(i order by i.position) from odl.document_instances as i where i.doc_id = %s",
            (doc.doc_id,),
        ).fetchone()[0]
        self.su.execute("delete from odl.document_instances where doc_id = %s", (doc.doc_id,))
        self.su.execute("select odl.rebuild_instances(%s)", (doc.doc_id,))
        after = self.su.execute(
            "select array_agg(i order by i.position) from odl.document_instances as i where i.doc_id = %s",
            (doc.doc_id,),
        ).fetchone()[0]
        self.su.rollback()
        return before == after


def measure(bench: Bench, pair: dict[str, Document], kind: str, rounds: int) -> dict[str, list[float]]:
    """Interleaved rounds: each a patch to the disabled side's document with
    the projector disabled and the same patch to the enabled side's with it
    enabled, in alternating order; the first round warms up."""
    out: dict[str, list[float]] = {"off": [], "on": []}
    for r in range(rounds + 1):
        for side in (("off", "on") if r % 2 else ("on", "off")):
            doc = pair[side]
            bench.projector(side == "on")
            seconds = doc.write(doc.fields_patch() if kind == "fields" else doc.add_patch())
            if r:
                out[side].append(seconds)
    bench.projector(True)
    return out


def run(ctx: Context) -> Section:
    with Stopwatch() as sw:
        bench = Bench(ctx)
        docs = {label: {side: Document(bench, label) for side in ("off", "on")} for label in SIZES}
    facts = {"setup": f"{sw.seconds:.1f} s"}
    results = {}
    checks = []
    try:
        with one_cpu(bench.app, bench.su) as pinning:
            for label, pair in docs.items():
                for kind in ("fields", "add"):
                    ctx.log(f"{label}, {kind}: {ROUNDS[label]} rounds")
                    results[label, kind] = measure(bench, pair, kind, ROUNDS[label])
                checks.append(f"{label}: {'equal' if bench.rows_equal_a_rebuild(pair['on']) else 'DIFFERENT'}")
    finally:
        bench.app.close()
        bench.su.close()

    counts = {label: pair["on"].instances for label, pair in docs.items()}
    rows = []
    for (label, kind), t in results.items():
        text = ("10-operation patch replacing lifecycle_status and parent_ref of 5 instances" if kind == "fields"
                else "patch appending an instance (re-projects the whole array)")
        rows.append(compare(
            f"{label} ({counts[label]:,} instances): {text}, projector enabled vs disabled",
            "ms/patch", [x * 1e3 for x in t["off"]], [x * 1e3 for x in t["on"]], None, ctx.seed,
        ))
    return Section(
        compared="`odl_apply_patch()` with the `instances` projector enabled against the same call with it "
        "disabled: what keeping `odl.document_instances` equal to the documents adds to a write.",
        method="\n".join([
            f"- Documents from `fixtures/odlsd.py` (seed {SEED}) at {', '.join(SIZES)}, created through the "
            "API by a user holding super_user; every patch is its own transaction, timed from the "
            "`odl_apply_patch` statement to the end of the commit.",
            "- The fields patches come first and keep the document's size; each appending patch adds an "
            f"instance for good ({ROUNDS['10 KB'] + 1} at 10 KB, {ROUNDS['1 MB'] + 1} at 1 MB, counted in the "
            "labels before them).",
            "- Per size and kind, rounds after one warm-up round: each round writes one patch with the "
            "projector disabled and one with it enabled, in alternating order (the superuser flips "
            "`odl.document_projectors.enabled` between them). Ratios are medians of the per-round ratios, "
            "with a 95% bootstrap interval.",
            f"- {pinning} (see harness.one_cpu).",
        ]),
        rows=rows,
        notes="After the rounds, the projection equals a rebuild from the stored document: "
        + "; ".join(checks) + ".",
        facts=facts,
        baseline_name="disabled",
        candidate_name="enabled",
    )
