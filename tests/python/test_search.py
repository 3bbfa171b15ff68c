"""Chunks, embeddings and search: the chunks projector keeps every
document's chunks equal to a full cut after random patches, turns a chunk
whose text changed stale and drops its vector in the writing transaction;
searches never return a stale chunk while patches and the embedding worker
run concurrently, never another tenant's or an unreadable chunk, and never
fewer than k rows when k readable chunks exist, whatever the plan; the
plan follows the tenant's size (EXPLAIN); vacuum under concurrent inserts
leaves the HNSW index consistent; the default model never touches the
network."""

from __future__ import annotations

import socket
import sys
import threading
import uuid

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from conftest import TOP, TenantAccess, server_conninfo
from test_change_feed import app_session, create_document, new_project

sys.path.insert(0, str(TOP))
sys.path.insert(0, str(TOP / "client"))
from fixtures import odlsd_spec  # noqa: E402
from odl_client.embed import embed_once, search_text, wordllama_embedder  # noqa: E402


@pytest.fixture(scope="module")
def embed():
    return wordllama_embedder()


def su_conn(dbname: str) -> psycopg.Connection:
    return psycopg.connect(server_conninfo(dbname=dbname, user="postgres"))


def begin_as(tenant_id: str, user_id: str):
    def begin(conn: psycopg.Connection) -> None:
        conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
    return begin


def drain(dbname: str, tenant, user_id: str, embed) -> int:
    """Runs the worker until no stale chunk the user may read is left."""
    stored = 0
    with psycopg.connect(server_conninfo(dbname=dbname, user="odl_app")) as conn:
        while True:
            step = embed_once(conn, embed, begin_as(tenant[0], user_id), batch=500)
            stored += step.stored
            if step.claimed == 0:
                return stored


def world(dbname, tenant, access, seed: int = 1, size: int = 60_000):
    """A tenant administrator holding super_user at the portfolio, a project
    under it and one spec-style document: (project, doc_id, doc)."""
    access.assign("super_user", access.admin_id)
    project = new_project(dbname, (tenant[0], access.admin_id), access, f"search-{uuid.uuid4().hex[:8]}")
    doc = odlsd_spec.generate(size, seed=seed)
    doc_id = create_document(dbname, (tenant[0], access.admin_id), project, doc)
    return project, doc_id, doc


def stored_chunks(su: psycopg.Connection, doc_id: str) -> dict[str, str]:
    rows = su.execute("select pointer, body from odl.chunks where doc_id = %s", (doc_id,)).fetchall()
    su.commit()
    return dict(rows)


def recut(su: psycopg.Connection) -> int:
    """What the worker's claim does first: cut again the chunks writes
    touched (as the superuser, for every tenant)."""
    (cut,) = su.execute("select odl.chunk_recut(1000)").fetchone()
    su.commit()
    return cut


def full_cut(su: psycopg.Connection, doc_id: str) -> dict[str, str]:
    rows = su.execute(
        """
        select c.pointer, c.body
        from odl.odl_documents as d
        cross join lateral jsonb_object_keys(d.doc_json) as k (key)
        cross join lateral odl.chunk_cut(d.doc_json, '/' || replace(replace(k.key, '~', '~0'), '/', '~1'), false) as c
        where d.doc_id = %s
        """,
        (doc_id,),
    ).fetchall()
    su.commit()
    return dict(rows)


def patch(dbname, tenant, user_id, doc_id, ops) -> int:
    """Applies a patch as the user at the current version; returns the new version."""
    with su_conn(dbname) as su:
        version = su.execute("select version from odl.odl_documents where doc_id = %s", (doc_id,)).fetchone()[0]
    with app_session(dbname, (tenant[0], user_id)) as conn:
        conn.execute("select odl.odl_apply_patch(%s, %s, %s)", (doc_id, Jsonb(ops), version))
    return version + 1


# --- the default model ---------------------------------------------------------

def test_the_default_model_loads_and_embeds_without_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the embedding model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    vectors = wordllama_embedder()(["inverter INV-01 feeds the transformer", "PV string of 28 modules"])
    assert vectors.shape == (2, 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# --- the chunks projector --------------------------------------------------------

PATCHES = st.sampled_from([
    # add, not replace: an instance an earlier step appended has no lifecycle_status.
    lambda d, r: [{"op": "add", "path": f"/instances/{r.randrange(len(d['instances']))}/lifecycle_status",
                   "value": r.choice(["planned", "operational", "decommissioned"])}],
    lambda d, r: [{"op": "add", "path": "/instances/-",
                   "value": {"id": f"X-{r.randrange(10**6)}", "type_ref": "hx550_bifacial_module"}}],
    lambda d, r: [{"op": "remove", "path": f"/connections/{r.randrange(len(d['connections']))}"}],
    lambda d, r: [{"op": "add", "path": f"/libraries/components/extra_{r.randrange(10**6)}",
                   "value": {"category": "cable", "subcategory": "dc"}}],
    lambda d, r: [{"op": "replace", "path": "/finance", "value": {"capex": {"total": r.randrange(10**6)}}}],
    lambda d, r: [{"op": "replace", "path": "/hierarchy/name", "value": f"Plant {r.randrange(1000)}"}],
    lambda d, r: [{"op": "remove", "path": "/esg"}] if "esg" in d else [{"op": "add", "path": "/esg",
                                                                        "value": {"environmental": {"co2": 1}}}],
])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_chunks_equal_a_full_cut_after_every_patch(dbname, tenant, access, data):
    import random

    project, doc_id, doc = world(dbname, tenant, access, size=30_000)
    rng = random.Random(data.draw(st.integers(0, 10**6), label="seed"))
    with su_conn(dbname) as su:
        assert stored_chunks(su, doc_id) == {}, "a new document is cut by the worker, not by its writer"
        recut(su)
        assert stored_chunks(su, doc_id) == full_cut(su, doc_id)
        for _ in range(data.draw(st.integers(1, 6), label="steps")):
            current = su.execute("select doc_json from odl.odl_documents where doc_id = %s", (doc_id,)).fetchone()[0]
            su.commit()
            ops = data.draw(PATCHES, label="patch")(current, rng)
            patch(dbname, tenant, access.admin_id, doc_id, ops)
            # Before the worker: every chunk whose text the write changed is stale.
            cut = full_cut(su, doc_id)
            fresh = su.execute("select pointer, body from odl.chunks where doc_id = %s and not stale", (doc_id,))
            assert all(cut.get(pointer) == body for pointer, body in fresh.fetchall()), ops
            su.commit()
            recut(su)
            assert stored_chunks(su, doc_id) == cut, ops


def test_a_patch_turns_only_the_touched_chunk_stale_and_drops_its_vector(dbname, tenant, access, embed):
    project, doc_id, doc = world(dbname, tenant, access)
    drain(dbname, tenant, access.admin_id, embed)
    with su_conn(dbname) as su:
        before = su.execute(
            "select count(*) filter (where stale), count(*) from odl.chunks where doc_id = %s", (doc_id,)
        ).fetchone()
        assert before[0] == 0 and before[1] > 100
        su.commit()
        version = patch(dbname, tenant, access.admin_id, doc_id,
                        [{"op": "replace", "path": "/instances/3/lifecycle_status", "value": "decommissioned"}])
        stale = su.execute(
            "select pointer, version from odl.chunks where doc_id = %s and stale", (doc_id,)
        ).fetchall()
        assert stale == [("/instances/3", version - 1)], "stale in the writing transaction, cut by the worker"
        su.commit()
        recut(su)
        stale = su.execute(
            "select pointer, version from odl.chunks where doc_id = %s and stale", (doc_id,)
        ).fetchall()
        assert stale == [("/instances/3", version)]
        vectors = su.execute(
            "select count(*) from odl.chunk_embeddings where doc_id = %s and pointer = '/instances/3'", (doc_id,)
        ).fetchone()[0]
        assert vectors == 0
        assert su.execute(
            "select count(*) from odl.chunk_embeddings where doc_id = %s", (doc_id,)
        ).fetchone()[0] == before[1] - 1


def test_classified_parts_never_reach_a_chunk(dbname, tenant, access):
    access.assign("super_user", access.admin_id)
    project = new_project(dbname, (tenant[0], access.admin_id), access, f"secret-{uuid.uuid4().hex[:8]}")
    doc = odlsd_spec.generate(30_000, seed=2)
    doc["libraries"]["components"]["secret_module"] = {"category": "pv_module", "pricing": {"unit_price": 424242}}
    doc_id = create_document(dbname, (tenant[0], access.admin_id), project, doc)
    with su_conn(dbname) as su:
        recut(su)
        body = su.execute(
            "select body from odl.chunks where doc_id = %s and pointer = '/libraries/components/secret_module'",
            (doc_id,),
        ).fetchone()[0]
        assert "pv_module" in body and "424242" not in body and "pricing" not in body


# --- search ----------------------------------------------------------------------

def test_search_returns_only_the_tenants_readable_chunks(dbname, tenant, access, embed):
    project, doc_id, doc = world(dbname, tenant, access)
    drain(dbname, tenant, access.admin_id, embed)
    # Another tenant with the same document, embedded too.
    with psycopg.connect(server_conninfo(dbname=dbname, user="postgres")) as admin:
        admin.execute("set role odl_admin")
        other_tenant = admin.execute("select odl.odl_create_tenant(%s, 'EU')", (f"t-{uuid.uuid4().hex[:6]}",)
                                     ).fetchone()[0]
        other_user = admin.execute("select odl.odl_create_user(%s, %s, 'engineer')",
                                   (other_tenant, f"{uuid.uuid4().hex[:6]}@example.com")).fetchone()[0]
    other = TenantAccess(dbname, (other_tenant, other_user))
    other_project, other_doc, _ = world(dbname, (other_tenant, other_user), other)
    drain(dbname, (other_tenant, other_user), other.admin_id, embed)
    # A technician reads instances, connections, operations, governance only.
    technician = access.create_user("technician_operator")
    access.assign("technician_operator", technician)
    with access.session(technician) as conn:
        hits = search_text(conn, embed, "tracker foundation pile and inverter pricing", project, 50)
        assert len(hits) == 50
        assert {h[0] for h in hits} == {doc_id}
        assert {h[2].split("/")[1] for h in hits} <= {"instances", "connections", "operations", "governance"}
    with access.session(access.admin_id) as conn:
        hits = search_text(conn, embed, "tracker foundation pile", None, 1000)
        assert {h[0] for h in hits} == {doc_id}
        assert any(h[2].startswith("/libraries/") for h in hits)
    with other.session(other.admin_id) as conn:
        assert {h[0] for h in search_text(conn, embed, "tracker", None, 20)} == {other_doc}


def exact_top(su, tenant_id, vector, readable_sections, k):
    rows = su.execute(
        """
        select c.doc_id, c.pointer
        from odl.chunk_embeddings as e
        inner join odl.chunks as c using (tenant_id, doc_id, pointer)
        where e.tenant_id = %s and not c.stale and c.content_hash = e.content_hash
            and (%s::text[] is null or e.section = any(%s::text[]))
        order by e.embedding operator(pgvector.<=>) %s::real[]::pgvector.vector, c.doc_id, c.pointer
        limit %s
        """,
        (tenant_id, readable_sections, readable_sections, vector, k),
    ).fetchall()
    su.commit()
    return rows


@pytest.mark.parametrize("plan", ["exact", "shared_hnsw", "dedicated_hnsw"])
def test_every_plan_returns_min_k_readable_rows_and_explains_its_index(dbname, tenant, access, embed, plan):
    project, doc_id, doc = world(dbname, tenant, access, seed=7)
    drain(dbname, tenant, access.admin_id, embed)
    thresholds = {"exact": (10**9, 10**9), "shared_hnsw": (0, 10**9), "dedicated_hnsw": (0, 0)}[plan]
    with su_conn(dbname) as su:
        su.execute("select odl.refresh_search_plans(%s, %s)", thresholds)
        su.commit()
        with access.session(access.admin_id) as conn:
            chosen, dims, query = conn.execute("select plan, dims, query from odl.odl_search_plan()").fetchone()
        assert chosen == plan and dims == 256
        vector = embed(["string inverter"])[0].tolist()
        su.execute("begin")
        su.execute(f"prepare q (pgvector.vector, text[], text[]) as {query}")
        # As odl_search runs an index plan's query.
        su.execute("set local enable_sort = off" if plan != "exact" else "select 1")
        # EXPLAIN takes no bind parameters: the client binds them.
        explain = "\n".join(r[0] for r in psycopg.ClientCursor(su).execute(
            "explain execute q(%s::real[]::pgvector.vector, array[%s::text], null)", (vector, project + " instances")
        ).fetchall())
        su.execute("deallocate q")
        su.rollback()
        if plan == "exact":
            assert "hnsw" not in explain
        elif plan == "shared_hnsw":
            assert "chunk_embeddings_hnsw_256" in explain
        else:
            assert f"chunk_embeddings_hnsw_{tenant[0].lower()}" in explain
        total = su.execute("select count(*) from odl.chunk_embeddings where tenant_id = %s", (tenant[0],)).fetchone()[0]
        su.commit()
        for sections, k in ((None, 10), (["finance"], 10), (["physical", "esg"], 300), (None, 1000),
                            (["requirements"], 7)):
            with access.session(access.admin_id) as conn:
                hits = conn.execute(
                    "select doc_id, pointer, score from odl.odl_search(%s::real[], %s, %s, %s)",
                    (vector, project, k, sections),
                ).fetchall()
            expected = exact_top(su, tenant[0], vector, sections, k)
            assert len(hits) == min(k, len(exact_top(su, tenant[0], vector, sections, total))), (sections, k)
            if plan == "exact":
                assert [h[:2] for h in hits] == expected
            assert all(h[2] >= hits[i + 1][2] - 1e-9 for i, h in enumerate(hits[:-1]))
        su.execute("select odl.refresh_search_plans()")
        su.commit()


def test_search_refuses_bad_queries_with_their_sqlstate(dbname, tenant, access, embed):
    project, doc_id, doc = world(dbname, tenant, access)
    with access.session(access.admin_id) as conn:
        for vector, k, state in (([0.1] * 255, 10, "ODX01"), ([0.0] * 256, 10, "ODX03"),
                                 ([float("nan")] + [0.1] * 255, 10, "ODX03"), ([0.1] * 256, 0, "ODX04"),
                                 ([0.1] * 256, 1001, "ODX04")):
            with pytest.raises(psycopg.Error) as raised:
                conn.execute("select * from odl.odl_search(%s::real[], %s, %s)", (vector, project, k))
            assert raised.value.sqlstate == state
            conn.rollback()
            conn.execute("select odl.odl_set_context(%s, %s)", (tenant[0], access.admin_id))
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("select odl.odl_embed_store('other-model', '{}', '{}', '{}', '{}'::real[])")
        assert raised.value.sqlstate == "ODX02"


def test_a_declared_model_of_another_dimension_coexists_with_the_default(dbname, tenant, access, embed):
    project, doc_id, doc = world(dbname, tenant, access)
    with su_conn(dbname) as su:
        recut(su)
    with access.session(access.admin_id) as conn:
        waiting = conn.execute("select odl.odl_declare_embedding_model('test-hash-64', 64)").fetchone()[0]
        assert waiting > 100
    rng = np.random.default_rng(0)

    def embed64(texts):
        out = rng.normal(size=(len(texts), 64)).astype("float32")
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    with psycopg.connect(server_conninfo(dbname=dbname, user="odl_app")) as conn:
        while embed_once(conn, embed64, begin_as(tenant[0], access.admin_id), model="test-hash-64", batch=500).claimed:
            pass
        conn.execute("select odl.odl_set_context(%s, %s)", (tenant[0], access.admin_id))
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("select * from odl.odl_search(%s::real[], null, 5)", ([0.1] * 256,))
        assert raised.value.sqlstate == "ODX01"
        conn.rollback()
        conn.execute("select odl.odl_set_context(%s, %s)", (tenant[0], access.admin_id))
        hits = conn.execute("select pointer from odl.odl_search(%s::real[], null, 5)", ([0.1] * 64,)).fetchall()
        assert len(hits) == 5
    with su_conn(dbname) as su:
        assert su.execute(
            "select array_agg(distinct dims) from odl.chunk_embeddings where tenant_id = %s", (tenant[0],)
        ).fetchone()[0] == [64]


# --- concurrency ---------------------------------------------------------------

def test_no_stale_chunk_is_returned_while_patches_and_the_worker_run(dbname, tenant, access, embed):
    """A writer renames instance 0 again and again, a worker embeds, a reader
    searches for it: every hit's score is the cosine of the query with the
    hit's own text (a stale vector would score another text), and its text
    is the one of the version it names."""
    project, doc_id, doc = world(dbname, tenant, access)
    drain(dbname, tenant, access.admin_id, embed)
    names = {}
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer():
        try:
            for i in range(15):
                name = f"renamed inverter revision {i}"
                version = patch(dbname, tenant, access.admin_id, doc_id,
                                [{"op": "add", "path": "/instances/0/name", "value": name}])
                names[version] = name
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            stop.set()

    def worker():
        try:
            with psycopg.connect(server_conninfo(dbname=dbname, user="odl_app")) as conn:
                while not stop.is_set():
                    embed_once(conn, embed, begin_as(tenant[0], access.admin_id), batch=50)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    query = embed(["renamed inverter revision"])[0]
    checked = 0
    threads = [threading.Thread(target=writer), threading.Thread(target=worker)]
    for thread in threads:
        thread.start()
    with access.session(access.admin_id) as conn:
        while not stop.is_set() or checked == 0:
            conn.execute("select odl.odl_set_context(%s, %s)", (tenant[0], access.admin_id))
            hits = conn.execute(
                "select pointer, version, score, body from odl.odl_search(%s::real[], %s, 5, '{instances}')",
                (query.tolist(), project),
            ).fetchall()
            conn.commit()
            assert len(hits) == 5
            own = embed([h[3] for h in hits])
            for (pointer, version, score, body), vector in zip(hits, own):
                assert abs(score - float(np.dot(query, vector))) < 1e-3, (pointer, version, body)
                if pointer == "/instances/0" and version in names:
                    assert names[version] in body
                checked += 1
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert checked > 0


def test_vacuum_under_concurrent_inserts_leaves_the_hnsw_index_consistent(dbname, tenant, access, embed):
    project, doc_id, doc = world(dbname, tenant, access, size=60_000)
    drain(dbname, tenant, access.admin_id, embed)
    with su_conn(dbname) as su:
        su.execute("select odl.refresh_search_plans(0, 0)")
        su.commit()
    # Half the instances change text: their vectors go (dead index tuples).
    removals = [{"op": "replace", "path": f"/instances/{n}/lifecycle_status", "value": "decommissioned"}
                for n in range(0, len(doc["instances"]), 2)]
    for start in range(0, len(removals), 100):
        patch(dbname, tenant, access.admin_id, doc_id, removals[start:start + 100])
    errors: list[BaseException] = []

    def vacuum():
        try:
            with psycopg.connect(server_conninfo(dbname=dbname, user="postgres"), autocommit=True) as v:
                for _ in range(3):
                    v.execute("vacuum odl.chunk_embeddings")
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    thread = threading.Thread(target=vacuum)
    thread.start()
    stored = drain(dbname, tenant, access.admin_id, embed)
    thread.join()
    assert not errors and stored >= len(removals)
    with psycopg.connect(server_conninfo(dbname=dbname, user="postgres"), autocommit=True) as v:
        v.execute("vacuum odl.chunk_embeddings")
    with su_conn(dbname) as su:
        index = f"chunk_embeddings_hnsw_{tenant[0].lower()}"
        live = su.execute("select count(*) from odl.chunk_embeddings where tenant_id = %s", (tenant[0],)).fetchone()[0]
        for text in ("inverter", "module string", "transformer substation"):
            vector = embed([text])[0].tolist()
            su.execute("begin")
            su.execute("set local enable_seqscan = off")
            su.execute("set local enable_bitmapscan = off")
            # Every row is asked for: a sort of the tenant's rows could cost less.
            su.execute("set local enable_sort = off")
            su.execute("set local hnsw.iterative_scan = strict_order")
            su.execute("set local hnsw.max_scan_tuples = 1000000")
            su.execute("set local hnsw.ef_search = 400")
            plan = "\n".join(r[0] for r in psycopg.ClientCursor(su).execute(
                "explain select pointer from odl.chunk_embeddings where tenant_id = %s and dims = 256 "
                "order by pgvector.l2_normalize(embedding)::pgvector.vector(256) operator(pgvector.<=>) "
                "%s::real[]::pgvector.vector(256) limit %s", (tenant[0], vector, live)).fetchall())
            assert index in plan
            through_index = su.execute(
                "select pointer from odl.chunk_embeddings where tenant_id = %s and dims = 256 "
                "order by pgvector.l2_normalize(embedding)::pgvector.vector(256) operator(pgvector.<=>) "
                "%s::real[]::pgvector.vector(256) limit %s", (tenant[0], vector, live)).fetchall()
            su.rollback()
            # Every live vector once, none twice, no dead one, nearest first as exact.
            assert len(through_index) == live == len(set(through_index))
            exact = su.execute(
                "select pointer from odl.chunk_embeddings where tenant_id = %s "
                "order by embedding operator(pgvector.<=>) %s::real[]::pgvector.vector limit 10",
                (tenant[0], vector)).fetchall()
            su.commit()
            assert len(set(through_index[:10]) & set(exact)) >= 9
        su.execute("select odl.refresh_search_plans()")
        su.commit()


def test_a_question_in_words_cites_pointers_and_walks_the_graph_from_the_answer(dbname, tenant, access, embed):
    from odl_client.embed import ask_and_walk

    project, doc_id, doc = world(dbname, tenant, access)
    drain(dbname, tenant, access.admin_id, embed)
    with access.session(access.admin_id) as conn:
        answer = ask_and_walk(conn, embed, "string inverter B01-INV01 location", project, k=5)
    assert len(answer["cited"]) == 5 and all(d == doc_id for d, _, _ in answer["cited"])
    _, pointer, node_id = answer["instance"]
    assert doc["instances"][int(pointer.rsplit("/", 1)[1])]["id"] == node_id
    assert answer["neighbours"] and answer["upstream"] is not None
