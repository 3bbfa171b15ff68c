"""External references: a document of 100,000 instances stored with its
instances outside (content-addressed blobs of 1,000 instances) against the
same document stored whole, for a patch of one instance and for a read of
the whole document."""

from __future__ import annotations

import json
import os
import random
import statistics
import time
import uuid

from harness import Context, Row, Section, compare, one_cpu

TITLE = "External references: 100,000 instances outside the document"

QUICK = os.environ.get("ODL_BENCH_QUICK") == "1"
INSTANCES = 100_000
PATCH_ROUNDS = 6 if QUICK else 30
READ_ROUNDS = 4 if QUICK else 15
WARMUP = 2
STATUSES = ("planned", "procured", "installed", "commissioned", "operational", "maintenance")


def document() -> dict:
    return {
        "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
        "schema_version": "4.1",
        "meta": {"project": "bench farm", "domain": "PV", "scale": "UTILITY", "seq": 0},
        "hierarchy": {"id": "PF-1", "type": "PORTFOLIO", "name": "farm", "children": []},
        "instances": [
            {"id": f"INV-{i:06d}", "type_ref": "inverter", "lifecycle_status": "planned"} for i in range(INSTANCES)
        ],
    }


def run(ctx: Context) -> Section:
    started = time.perf_counter()
    rng = random.Random(ctx.seed)
    doc = document()
    text = json.dumps(doc, separators=(",", ":"))
    with ctx.connect(autocommit=True) as su:
        su.execute("set role odl_admin")
        tenant = su.execute("select odl.odl_create_tenant(%s, 'EU')", (f"ext-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
        admin = su.execute(
            "select odl.odl_create_user(%s, %s, 'super_user')", (tenant, "admin@bench.example")
        ).fetchone()[0]
    with ctx.connect(user="odl_app") as app, ctx.connect(autocommit=True) as su:

        def context() -> None:
            app.execute("select odl.odl_set_context(%s, %s)", (tenant, admin))

        context()
        node = app.execute("select odl.odl_create_node(null, 'PORTFOLIO', 'bench')").fetchone()[0]
        app.execute("select odl.odl_assign_role(%s, %s, 'super_user')", (admin, node))
        project = app.execute("select odl.odl_create_project('bench')").fetchone()[0]
        app.execute("select odl.odl_attach_project(%s, %s)", (project, node))
        app.commit()
        docs = {}
        for side in ("whole", "outside"):
            context()
            docs[side] = app.execute("select odl.odl_create_document(%s, %s::jsonb)", (project, text)).fetchone()[0]
            app.commit()
        context()
        external = app.execute("select odl.odl_set_external(%s, '/instances', true, 1)", (docs["outside"],)).fetchone()[0]
        app.commit()
        setup = time.perf_counter() - started
        sizes = {
            side: su.execute(
                "select pg_column_size(d.doc_json), d.external is not null from odl.odl_documents as d"
                " where d.doc_id = %s", (doc_id,),
            ).fetchone()
            for side, doc_id in docs.items()
        }
        blob_bytes = su.execute(
            "select count(*), coalesce(sum(pg_column_size(b.content)), 0) from odl.document_blobs as b"
            " where b.tenant_id = %s", (tenant,),
        ).fetchone()
        assert sizes["outside"][1] and not sizes["whole"][1], sizes
        assert len(external["/instances"]) == INSTANCES // 1000

        versions = {"whole": 1, "outside": 1}
        times: dict[str, list[float]] = {"whole": [], "outside": []}
        wal: dict[str, list[int]] = {"whole": [], "outside": []}
        reads: dict[str, list[float]] = {"whole": [], "outside": []}
        with one_cpu(app, su) as pinned:
            for round_number in range(WARMUP + PATCH_ROUNDS):
                index = rng.randrange(INSTANCES)
                status = STATUSES[round_number % len(STATUSES)]
                patch = json.dumps([
                    {"op": "replace", "path": f"/instances/{index}/lifecycle_status", "value": status},
                    {"op": "replace", "path": "/meta/seq", "value": round_number + 1},
                ])
                for side in rng.sample(["whole", "outside"], 2):
                    context()
                    app.commit()
                    context()
                    (before,) = su.execute("select pg_current_wal_insert_lsn()").fetchone()
                    start = time.perf_counter()
                    (versions[side],) = app.execute(
                        "select version from odl.odl_apply_patch(%s, %s::jsonb, %s)",
                        (docs[side], patch, versions[side]),
                    ).fetchone()
                    app.commit()
                    elapsed = time.perf_counter() - start
                    (written,) = su.execute(
                        "select pg_current_wal_insert_lsn() - %s::pg_lsn", (before,)
                    ).fetchone()
                    if round_number >= WARMUP:
                        times[side].append(elapsed * 1000)
                        wal[side].append(int(written))
            hashes = {
                side: su.execute("select doc_hash from odl.odl_documents where doc_id = %s", (doc_id,)).fetchone()[0]
                for side, doc_id in docs.items()
            }
            assert hashes["whole"] == hashes["outside"], hashes
            for round_number in range(WARMUP + READ_ROUNDS):
                texts = {}
                for side in rng.sample(["whole", "outside"], 2):
                    context()
                    start = time.perf_counter()
                    (texts[side],) = app.execute(
                        "select document::text from odl.odl_get_document(%s)", (docs[side],)
                    ).fetchone()
                    app.commit()
                    if round_number >= WARMUP:
                        reads[side].append((time.perf_counter() - start) * 1000)
                assert texts["whole"] == texts["outside"]

    rows: list[Row] = [
        compare(
            "patch of one instance (and /meta/seq) through `odl_apply_patch()`: instances outside vs whole",
            "ms/patch", times["whole"], times["outside"], None, ctx.seed,
        ),
        compare(
            "read-back of the whole document, `odl_get_document()` as text: instances outside vs whole",
            "ms/read", reads["whole"], reads["outside"], None, ctx.seed + 1,
        ),
        compare(
            "WAL written by one such patch (statement and commit): instances outside vs whole",
            "KiB/patch", [w / 1024 for w in wal["whole"]], [w / 1024 for w in wal["outside"]], None, ctx.seed + 2,
        ),
    ]
    facts = {
        "setup": f"{setup:.1f} s",
        "stored row (pg_column_size of doc_json)": (
            f"whole {sizes['whole'][0]:,} B; outside {sizes['outside'][0]:,} B"
        ),
        "blobs at set-up": f"{blob_bytes[0]}, {blob_bytes[1]:,} B (pg_column_size, lz4)",
    }
    return Section(
        compared=(
            "One document of 100,000 instances (`{id, type_ref, lifecycle_status}`, "
            f"{len(text):,} bytes of compact JSON), stored twice in one tenant: **whole** (the row holds it all) and "
            "**outside** (`odl_set_external(doc, '/instances', true)`: the row holds the rest, each 1,000 instances "
            "are a content-addressed blob in `odl.document_blobs`). Same content, same hash. Ratios are outside / "
            "whole, for information (no goal)."
        ),
        method=(
            f"- Patches: {PATCH_ROUNDS} rounds after {WARMUP} warm-up rounds; a round patches both documents "
            "in shuffled order with the same two operations (replace the lifecycle_status of one random instance, "
            "replace /meta/seq), each `select version from odl_apply_patch(...)` as odl_app under "
            "`odl_set_context()`, then `commit`, timed together. The backend holds both documents in its cache "
            "(the usual case for a writer), so the time is validation, hashing, storage and the projectors.\n"
            "- WAL: `pg_current_wal_insert_lsn()` before and after each timed patch, read on a second connection.\n"
            f"- Reads: {READ_ROUNDS} rounds after {WARMUP} warm-up, each `select document::text from "
            "odl_get_document(id)` of both documents in shuffled order, each its own transaction; the first round "
            "checks that both texts are equal.\n"
            f"- {pinned}."
        ),
        rows=rows,
        facts=facts,
        baseline_name="whole",
        candidate_name="outside",
        notes=(
            f"Median patch: whole {statistics.median(times['whole']):.1f} ms, outside "
            f"{statistics.median(times['outside']):.1f} ms. A patch still builds the whole patched document as "
            "jsonb for the projectors (and validates and hashes all of it); what it no longer does is compress and "
            "write the whole row: one new segment of 1,000 instances instead. A read puts the instances back from "
            "their 100 blobs, which costs a parse of their text (`odl.document_resolved()`), where a document stored "
            "whole is only decompressed."
        ),
    )
