"""What the CAG invalidation projector adds to a patch of a 10 KB document.

Against a deployed database (PG* variables, a superuser): one tenant, one
project, one 10 KB document (fixtures/odlsd.generate(10_000, seed=11)) and
ENTRIES CAG entries on it, each with two dependencies at leaf pointers of the
document (/instances/N/location/lat, /meta/units, ...). Each round applies
the same one-operation patch (/instances/3/lifecycle_status) twice, in
shuffled order, through odl_apply_patch() as odl_app: once with the
projector enabled, once with it disabled (odl.document_projectors.enabled).
Timed: the statement and the commit. Two cases:

- untouched: no entry depends on what the patch changes (the projector looks
  its changed pointer up and finds nothing to hash);
- invalidating: INVALIDATED entries depend on /instances/3/lifecycle_status
  and are stored again before each round (outside the timing), so every
  enabled patch invalidates them all.

    make bench (with the others), or .venv/bin/python benchmarks/run.py cag
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from pathlib import Path

from psycopg.types.json import Jsonb

from harness import Context, Section, compare

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

TITLE = "CAG invalidation projector"
INVALIDATED = 100
ENTRIES = 10_000
ROUNDS = 150


def measure(ctx: Context, entries: int, rounds: int) -> dict[str, dict[bool, list[float]]]:
    doc = odlsd.generate(10_000, seed=11)
    doc["connections"] = []
    su = ctx.connect(autocommit=True)
    su.execute("set role odl_admin")
    tenant = su.execute("select odl.odl_create_tenant(%s, 'EU')", (f"bench-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
    user = su.execute("select odl.odl_create_user(%s, %s, 'super_user')",
                      (tenant, f"{uuid.uuid4().hex[:6]}@example.com")).fetchone()[0]
    su.execute("reset role")
    app = ctx.connect("odl_app")
    app.execute("select odl.odl_set_context(%s, %s)", (tenant, user))
    node = app.execute("select odl.odl_create_node(null, 'PORTFOLIO', 'bench')").fetchone()[0]
    app.execute("select odl.odl_assign_role(%s, %s, 'super_user')", (user, node))
    project = app.execute("select odl.odl_create_project('bench')").fetchone()[0]
    app.execute("select odl.odl_attach_project(%s, %s)", (project, node))
    doc_id = app.execute("select odl.odl_create_document(%s, %s)", (project, Jsonb(doc))).fetchone()[0]
    app.commit()

    leaves = ["/meta/units", "/meta/timestamps/created_at", "/hierarchy", "/finance"] + [
        f"/instances/{i}/{f}" for i in range(len(doc["instances"])) if i != 3
        for f in ("location/lat", "type_ref", "id", "parent_ref")
    ]
    rng = random.Random(7)
    rows = [(uuid.uuid4().hex * 2, rng.sample(leaves, 2)) for _ in range(entries)]
    with su.cursor() as cur:
        with cur.copy("copy odl.cag_entries (tenant_id, cache_key, project_id, kind, tool, model_id, "
                      "policy_fingerprint, response, created_by, expires_at, dependency_count) from stdin") as cp:
            for key, _ in rows:
                cp.write_row((tenant, key, project, "tool_output", "t@1", "m", "f", "r", user, "2100-01-01", 2))
        with cur.copy("copy odl.cag_dependencies (tenant_id, doc_id, pointer_prefix, cache_key, doc_version, "
                      "content_hash) from stdin") as cp:
            for key, deps in rows:
                for p in deps:
                    cp.write_row((tenant, doc_id, p, key, 1, "0" * 64))
    su.execute("analyze odl.cag_entries, odl.cag_dependencies")
    hot = [uuid.uuid4().hex * 2 for _ in range(INVALIDATED)]

    def arm() -> None:
        """(Re)store the entries that depend on what the patch changes."""
        su.execute("delete from odl.cag_entries where tenant_id = %s and cache_key = any(%s)", (tenant, hot))
        su.execute(
            "insert into odl.cag_entries (tenant_id, cache_key, project_id, kind, tool, model_id, policy_fingerprint,"
            " response, created_by, expires_at, dependency_count) select %s, k, %s, 'tool_output', 't@1', 'm', 'f',"
            " 'r', %s, '2100-01-01', 1 from unnest(%s::text[]) as k", (tenant, project, user, hot))
        su.execute(
            "insert into odl.cag_dependencies select %s, %s, '/instances/3/lifecycle_status', k, 1, %s"
            " from unnest(%s::text[]) as k", (tenant, doc_id, "0" * 64, hot))

    version = 1
    statuses = ["planned", "installed", "operational", "maintenance"]

    def patch(enabled: bool) -> float:
        nonlocal version
        su.execute("update odl.document_projectors set enabled = %s where projector = 'cag_invalidation'", (enabled,))
        value = statuses[version % len(statuses)]
        started = time.perf_counter()
        app.execute("select odl.odl_set_context(%s, %s)", (tenant, user))
        (version,) = app.execute(
            "select version from odl.odl_apply_patch(%s, %s, %s)",
            (doc_id, Jsonb([{"op": "add", "path": "/instances/3/lifecycle_status", "value": value}]), version),
        ).fetchone()
        app.commit()
        return time.perf_counter() - started

    measured = {}
    try:
        for case in ("untouched", "invalidating"):
            times: dict[bool, list[float]] = {True: [], False: []}
            for r in range(rounds + 5):
                order = [True, False]
                rng.shuffle(order)
                for enabled in order:
                    if case == "invalidating":
                        arm()
                    elapsed = patch(enabled)
                    if r >= 5:
                        times[enabled].append(elapsed)
            measured[case] = times
    finally:
        su.execute("update odl.document_projectors set enabled = true where projector = 'cag_invalidation'")
        app.close()
        su.close()
    return measured


def run(ctx: Context) -> Section:
    measured = measure(ctx, ENTRIES, ROUNDS)
    labels = {
        "untouched": f"10 KB document with {ENTRIES:,} entries ({2 * ENTRIES:,} dependencies) on it, a patch that "
        "touches none of them",
        "invalidating": f"the same, a patch that invalidates {INVALIDATED} entries",
    }
    rows = [
        compare(f"{labels[case]}: projector enabled vs disabled", "ms/patch",
                [x * 1e3 for x in times[False]], [x * 1e3 for x in times[True]], None, ctx.seed)
        for case, times in measured.items()
    ]
    return Section(
        compared="`odl_apply_patch()` of a one-operation patch with the `cag_invalidation` projector enabled "
        "against the same with it disabled: what keeping the CAG store fresh adds to a write.",
        method="\n".join([
            "- One tenant, one project, one 10 KB document (`fixtures/odlsd.generate(10_000, seed=11)`, "
            f"without connections); {ENTRIES:,} CAG entries loaded by COPY, each depending on two leaf pointers "
            "of the document other than the one patched.",
            f"- {ROUNDS} rounds after 5 warm-up rounds; each round patches `/instances/3/lifecycle_status` once "
            "with the projector enabled and once disabled, in shuffled order, each its own transaction "
            "(`odl_set_context`, the statement, the commit, timed). In the invalidating case "
            f"{INVALIDATED} entries depending on that pointer are stored again before every patch, outside "
            "the timing.",
            "- Ratios are medians of per-round ratios with a 95% bootstrap interval.",
        ]),
        rows=rows,
        baseline_name="disabled",
        candidate_name="enabled",
    )
