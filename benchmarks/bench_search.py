"""Semantic search: recall@10 and latency of odl_search() per tenant-size
class, against a shared HNSW index at pgvector's defaults.

Data: the chunks of three generated 20 MB ODL-SD documents (fixtures/
odlsd_spec.py, cut by the database's own odl.chunk_cut()), at least 200,000
distinct texts, embedded once by the default model (wordllama, 256
dimensions; the vectors are cached in benchmarks/.cache). They are spread
over tenants holding 0.01%, 0.1%, 1%, 5%, 10%, 25% and 50% of the rows, and
ten small filler tenants. Chunks and vectors are loaded in bulk (COPY), the
shared HNSW index is built once after the load (m 16, ef_construction 64),
then odl.refresh_search_plans() picks each tenant's plan (exact below 5,000
vectors, a dedicated partial HNSW from 40,000, the shared index between) and
builds the dedicated indexes.

Timed, per class, for 30 questions drawn from a third document never
loaded: odl_search(q, null, 10) as the tenant's administrator through
odl_app (context, rights, forced RLS; client round trip included); and the
baseline, the same question as the plain pgvector query over the shared
index at its defaults (ef_search 40, no iterative scan) as odl_owner under
the tenant's context (forced RLS filters the tenant). Recall@10 is against
an exact scan of the tenant's vectors, counting a hit as correct when its
distance is within the tenth exact distance (ties between equal texts count).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from psycopg.types.json import Jsonb

from harness import Context, Row, Section, Stopwatch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "client"))
from fixtures import odlsd_spec  # noqa: E402
from odl_client.embed import wordllama_embedder  # noqa: E402

TITLE = "Semantic search"
TOTAL = 200_000
CLASSES = [("0.01%", 0.0001), ("0.1%", 0.001), ("1%", 0.01), ("5%", 0.05), ("10%", 0.10), ("25%", 0.25),
           ("50%", 0.50)]
FILLERS = 10
QUERIES = 30
K = 10
CACHE = HERE / ".cache"


def corpus(ctx: Context) -> tuple[list[tuple[str, str]], list[str]]:
    """(section, text) of TOTAL distinct chunks, and the question texts
    (cached: the generator and the cut are deterministic)."""
    path = CACHE / f"search-corpus-{TOTAL}-{QUERIES}-{ctx.seed}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        return [tuple(c) for c in cached["chunks"]], cached["questions"]
    chunks, questions = cut_corpus(ctx)
    CACHE.mkdir(exist_ok=True)
    path.write_text(json.dumps({"chunks": chunks, "questions": questions}))
    return chunks, questions


def cut_corpus(ctx: Context) -> tuple[list[tuple[str, str]], list[str]]:
    seen: dict[str, str] = {}
    questions: list[str] = []
    with ctx.connect() as su:
        for seed, size in ((11, 20_000_000), (12, 20_000_000), (13, 20_000_000), (99, 200_000)):
            doc = odlsd_spec.generate(size, seed=seed)
            rows = su.execute(
                """
                select c.section, c.body
                from jsonb_object_keys(%(doc)s) as k (key)
                cross join lateral odl.chunk_cut(%(doc)s, '/' || k.key, false) as c
                """,
                {"doc": Jsonb(doc)},
            ).fetchall()
            if seed == 99:
                questions = [body for _, body in rows if body not in seen]
            else:
                for section, body in rows:
                    seen.setdefault(body, section)
    texts = list(seen.items())[:TOTAL]
    assert len(texts) == TOTAL, f"only {len(texts)} distinct chunk texts"
    rng = np.random.default_rng(ctx.seed)
    picked = rng.choice(len(questions), size=QUERIES, replace=False)
    return [(section, body) for body, section in texts], [questions[i] for i in picked]


def vectors_of(texts: list[str], ctx: Context) -> np.ndarray:
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"search-{key}.npy"
    if path.exists():
        return np.load(path)
    with Stopwatch() as sw:
        vectors = wordllama_embedder()(texts).astype(np.float32)
    ctx.log(f"embedded {len(texts):,} texts in {sw.seconds:.1f} s")
    CACHE.mkdir(exist_ok=True)
    np.save(path, vectors)
    return vectors


def binary_copy(vectors: np.ndarray) -> bytes:
    """COPY BINARY rows (i int4, embedding vector): pgvector's binary form
    is dimension (int16), unused (int16), then big-endian float4s."""
    n, dims = vectors.shape
    rows = np.zeros(n, dtype=[("fields", ">i2"), ("len_i", ">i4"), ("i", ">i4"), ("len_v", ">i4"),
                              ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", dims)])
    rows["fields"] = 2
    rows["len_i"] = 4
    rows["i"] = np.arange(n)
    rows["len_v"] = 4 + 4 * dims
    rows["dim"] = dims
    rows["v"] = vectors
    return b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + rows.tobytes() + b"\xff\xff"


def make_tenant(ctx: Context, name: str) -> tuple[str, str, str, str]:
    """A tenant with its administrator, a project and a small document:
    (tenant_id, admin_id, project_id, doc_id)."""
    with ctx.connect() as admin:
        admin.execute("set role odl_admin")
        tenant = admin.execute("select odl.odl_create_tenant(%s, 'EU')", (name,)).fetchone()[0]
        user = admin.execute("select odl.odl_create_user(%s, %s, 'super_user', true)",
                             (tenant, f"{uuid.uuid4().hex[:8]}@example.com")).fetchone()[0]
    with ctx.connect("odl_app") as app:
        def step(sql: str, args: tuple) -> str:
            app.execute("select odl.odl_set_context(%s, %s)", (tenant, user))
            value = app.execute(sql, args).fetchone()[0]
            app.commit()
            return value
        node = step("select odl.odl_create_node(null, 'PORTFOLIO', %s)", (name,))
        step("select odl.odl_assign_role(%s, %s, 'super_user')", (user, node))
        project = step("select odl.odl_create_project(%s)", (name,))
        step("select odl.odl_attach_project(%s, %s)::text", (project, node))
        doc = step("select odl.odl_create_document(%s, %s)", (project, Jsonb(odlsd_spec.generate(10_000, seed=1))))
    return tenant, user, project, doc


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def run(ctx: Context) -> Section:
    started = time.perf_counter()
    chunks, questions = corpus(ctx)
    ctx.log(f"{len(chunks):,} chunk texts, {len(questions)} questions in {time.perf_counter() - started:.1f} s")
    vectors = vectors_of([body for _, body in chunks], ctx)
    asked = wordllama_embedder()(questions).astype(np.float32)

    sizes = [(label, max(1, round(TOTAL * share))) for label, share in CLASSES]
    rest = TOTAL - sum(n for _, n in sizes)
    sizes += [(f"filler {i}", rest // FILLERS + (1 if i < rest % FILLERS else 0)) for i in range(FILLERS)]
    with Stopwatch() as made:
        tenants = {label: make_tenant(ctx, f"search-{label}-{uuid.uuid4().hex[:6]}") for label, _ in sizes}
    ctx.log(f"{len(tenants)} tenants in {made.seconds:.1f} s")

    facts: dict[str, str] = {}
    with ctx.connect() as su:
        with Stopwatch() as load:
            su.execute("create table public.bench_owner (i integer, tenant_id text, doc_id text, project_id text)")
            su.execute("create table public.bench_text (i integer, section text, body text)")
            su.execute("create table public.bench_vec (i integer, embedding pgvector.vector)")
            with su.cursor().copy("copy public.bench_owner from stdin") as copy:
                i = 0
                for label, n in sizes:
                    tenant, _, project, doc = tenants[label]
                    for _ in range(n):
                        copy.write_row((i, tenant, doc, project))
                        i += 1
            with su.cursor().copy("copy public.bench_text from stdin") as copy:
                for i, (section, body) in enumerate(chunks):
                    copy.write_row((i, section, body))
            with su.cursor().copy("copy public.bench_vec from stdin (format binary)") as copy:
                copy.write(binary_copy(vectors))
            su.execute(
                """
                insert into odl.chunks (tenant_id, doc_id, pointer, project_id, version, section, body, content_hash,
                    stale)
                select o.tenant_id, o.doc_id, '/bench/' || o.i, o.project_id, 1, t.section, t.body,
                    sha256(convert_to(t.body, 'UTF8')), false
                from public.bench_owner as o inner join public.bench_text as t using (i)
                """
            )
            su.execute("drop index odl.chunk_embeddings_hnsw_256")
            su.execute(
                """
                insert into odl.chunk_embeddings (tenant_id, doc_id, pointer, project_id, section, model, content_hash,
                    embedding)
                select c.tenant_id, c.doc_id, c.pointer, c.project_id, c.section, 'wordllama-l2-supercat-256',
                    c.content_hash, v.embedding
                from public.bench_owner as o
                inner join public.bench_vec as v using (i)
                inner join odl.chunks as c on c.tenant_id = o.tenant_id and c.doc_id = o.doc_id
                    and c.pointer = '/bench/' || o.i
                """
            )
            su.execute("drop table public.bench_owner, public.bench_text, public.bench_vec")
            su.commit()
        ctx.log(f"loaded in {load.seconds:.1f} s")
        facts["load (COPY, chunks, vectors)"] = f"{load.seconds:.1f} s"
        su.execute("set maintenance_work_mem = '1GB'")
        su.execute("set max_parallel_maintenance_workers = 1")
        with Stopwatch() as build:
            su.execute(
                "create index chunk_embeddings_hnsw_256 on odl.chunk_embeddings "
                "using hnsw ((embedding::pgvector.vector(256)) pgvector.vector_cosine_ops) where dims = 256"
            )
            su.commit()
        facts["shared HNSW build (200,000 vectors)"] = f"{build.seconds:.1f} s"
        ctx.log(f"shared index built in {build.seconds:.1f} s")
        su.commit()
        with ctx.connect(autocommit=True) as vacuum:
            vacuum.execute("vacuum analyze odl.chunk_embeddings")
        with Stopwatch() as refresh:
            plans = {row[0]: row[3] for row in su.execute(
                "select * from odl.refresh_search_plans(5000, 40000)").fetchall()}
            su.commit()
        facts["refresh_search_plans (dedicated indexes for 25% and 50%)"] = f"{refresh.seconds:.1f} s"
        su.execute("analyze odl.chunk_embeddings")
        su.commit()
        total = su.execute("select count(*) from odl.chunk_embeddings").fetchone()[0]
        facts["vectors"] = f"{total:,}"
        ctx.log(f"loaded {total:,} vectors in {load.seconds:.1f} s, shared index {build.seconds:.1f} s, "
                f"plans {refresh.seconds:.1f} s")

    rows: list[Row] = []
    notes: list[str] = []
    worst = 1.0
    short_rows = 0
    with ctx.connect() as su, ctx.connect("odl_app") as app, ctx.connect() as owner:
        owner.execute("set role odl_owner")
        owner.commit()
        for label, share in CLASSES:
            tenant, user, _, _ = tenants[label]
            n = dict(sizes)[label]
            ours, base, our_recall, base_recall, base_rows, gaps = [], [], [], [], [], []
            for q in asked:
                vector = q.tolist()
                exact = [r[0] for r in su.execute(
                    "select e.embedding operator(pgvector.<=>) %s::real[]::pgvector.vector as d "
                    "from odl.chunk_embeddings as e where e.tenant_id = %s order by d limit %s",
                    (vector, tenant, K)).fetchall()]
                su.commit()
                want = min(K, n)
                bound = exact[-1] + 1e-6
                app.execute("select odl.odl_set_context(%s, %s)", (tenant, user))
                with Stopwatch() as sw:
                    hits = app.execute("select score from odl.odl_search(%s::real[], null, %s)",
                                       (vector, K), prepare=True).fetchall()
                    app.commit()
                ours.append(sw.seconds * 1e3)
                short_rows += len(hits) < want
                our_recall.append(sum(1 - s <= bound for (s,) in hits) / want)
                if hits and our_recall[-1] < 1:
                    gaps.append(max(1 - s for (s,) in hits) - exact[-1])
                owner.execute("select odl.odl_set_context(%s, %s)", (tenant, user))
                with Stopwatch() as sw:
                    found = owner.execute(
                        "select e.embedding::pgvector.vector(256) operator(pgvector.<=>) "
                        "%s::real[]::pgvector.vector(256) as d from odl.chunk_embeddings as e where e.dims = 256 "
                        "order by d limit %s", (vector, K), prepare=True).fetchall()
                    owner.commit()
                base.append(sw.seconds * 1e3)
                base_rows.append(len(found))
                base_recall.append(sum(d <= bound for (d,) in found) / want)
            recall = statistics.mean(our_recall)
            worst = min(worst, recall)
            rows.append(Row(f"{label} of rows ({n:,} vectors, plan {plans.get(tenant, 'exact')}): p95 latency",
                            "ms", p95(base), p95(ours), p95(ours) / p95(base)))
            rows.append(Row(f"{label} of rows: recall@10", "%", 100 * statistics.mean(base_recall), 100 * recall,
                            recall / max(statistics.mean(base_recall), 1e-3)))
            missed = f", misses at most {max(gaps):.4f} beyond the tenth exact distance" if gaps else ""
            notes.append(f"- {label} ({n:,} vectors, {plans.get(tenant, 'exact')}): odl_search recall@10 "
                         f"{recall:.3f} (min {min(our_recall):.2f}), p50 {statistics.median(ours):.1f} ms, p95 "
                         f"{p95(ours):.1f} ms{missed}; baseline recall {statistics.mean(base_recall):.3f}, "
                         f"{statistics.mean(base_rows):.1f} rows of {K} on average, p95 {p95(base):.1f} ms")
            ctx.log(notes[-1][2:])
        plan = "\n".join(r[0] for r in owner.execute(
            "explain select e.embedding::pgvector.vector(256) operator(pgvector.<=>) "
            "array_fill(0.1::real, array[256])::pgvector.vector(256) as d from odl.chunk_embeddings as e "
            "where e.dims = 256 order by d limit 10").fetchall())
        owner.rollback()
    facts["whole benchmark"] = f"{time.perf_counter() - started:.0f} s"
    return Section(
        compared="`odl_search(q, null, 10)` (plan per tenant size, rights, forced RLS) against the plain pgvector "
                 "query on the shared HNSW index at its defaults under the tenant's forced RLS",
        method=__doc__.split("\n\n", 1)[1].replace("\n", " "),
        rows=rows,
        notes="\n".join([
            f"Recall@10 of odl_search in every class >= 0.95: **{'yes' if worst >= 0.95 else 'NO'}** "
            f"(worst class {worst:.3f}); searches returning fewer than min(k, tenant's vectors) rows: "
            f"**{short_rows}**.",
            "",
            *notes,
            "",
            "The baseline's plan (as odl_owner under a tenant's context):",
            "",
            "```",
            plan,
            "```",
        ]),
        facts=facts,
        baseline_name="shared HNSW, defaults",
        candidate_name="odl_search",
    )
