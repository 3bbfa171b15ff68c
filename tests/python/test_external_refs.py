"""External references (issue 15): a document's instances, when it declares
them external and holds more than its instance_threshold, or any array or
object a writer marks (odl_set_external), live outside its row as
content-addressed blobs. Readers see exactly what they saw before: the same
document, the same hash, the same projections; patches into the blobs are
atomic and equal the same patches on the document stored whole."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from conftest import TOP, create_database, drop_database, server_conninfo, sqitch
from test_change_feed import STATUSES, Model, app_session, new_project

sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402
from odl_db import canonical, documents  # noqa: E402

SEGMENT = documents.SEGMENT_ELEMENTS


def many_instances(count: int, seed: int = 11) -> dict:
    """A valid document with `count` instances made from one of its own (the
    connections name none of them, so patches may drop any)."""
    doc = odlsd.generate(10_000, seed=seed)
    template = doc["instances"][0]
    doc["instances"] = [
        {**copy.deepcopy(template), "id": f"EXT-{n:05d}", "lifecycle_status": "planned"} for n in range(count)
    ]
    doc["connections"] = []
    return doc


def declaring(doc: dict, threshold: int) -> dict:
    """The document, declaring its instances external beyond `threshold`."""
    doc = copy.deepcopy(doc)
    doc.setdefault("data_management", {})["scalability_strategies"] = {
        "instance_threshold": threshold,
        "external_references": {"enabled": True, "storage_backend": "s3"},
    }
    return doc


def su_connect(dbname: str) -> psycopg.Connection:
    return psycopg.connect(server_conninfo(dbname=dbname), autocommit=True)


def stored(dbname: str, doc_id: str) -> tuple:
    with su_connect(dbname) as su:
        return su.execute(
            "select version, doc_hash, external, doc_json from odl.odl_documents where doc_id = %s", (doc_id,)
        ).fetchone()


def blob_count(dbname: str, tenant_id: str) -> int:
    with su_connect(dbname) as su:
        return su.execute("select count(*) from odl.document_blobs where tenant_id = %s", (tenant_id,)).fetchone()[0]


def read(app: psycopg.Connection, tenant, doc_id: str, version: int | None = None) -> dict:
    app.execute("select odl.odl_set_context(%s, %s)", tenant)
    (document,) = app.execute("select document from odl.odl_get_document(%s, %s)", (doc_id, version)).fetchone()
    app.commit()
    return document


def patch(app: psycopg.Connection, tenant, doc_id: str, operations: list, version: int) -> tuple:
    app.execute("select odl.odl_set_context(%s, %s)", tenant)
    row = app.execute(
        "select version, doc_hash from odl.odl_apply_patch(%s, %s, %s)", (doc_id, Jsonb(operations), version)
    ).fetchone()
    app.commit()
    return row


def create(app: psycopg.Connection, tenant, project: str, doc: dict) -> str:
    app.execute("select odl.odl_set_context(%s, %s)", tenant)
    (doc_id,) = app.execute("select odl.odl_create_document(%s, %s)", (project, Jsonb(doc))).fetchone()
    app.commit()
    return doc_id


def set_external(app: psycopg.Connection, tenant, doc_id: str, pointer: str, external: bool, version: int) -> dict:
    app.execute("select odl.odl_set_context(%s, %s)", tenant)
    (result,) = app.execute(
        "select odl.odl_set_external(%s, %s, %s, %s)", (doc_id, pointer, external, version)
    ).fetchone()
    app.commit()
    return result


PROJECTIONS = {
    "document_instances": "position",
    "graph_nodes": "pointer",
    "graph_edges": "pointer",
    "component_index": "component_key",
    "chunks": "pointer",
}


def projections(dbname: str, doc_id: str) -> dict:
    """Every projector's rows of a document, without the doc_id."""
    with su_connect(dbname) as su:
        return {
            table: su.execute(
                f"select to_jsonb(t) - 'doc_id' - 'cut_at' from odl.{table} as t where doc_id = %s order by {key}",
                (doc_id,),
            ).fetchall()
            for table, key in PROJECTIONS.items()
        }


@pytest.fixture
def writer(dbname, tenant, access):
    """(app connection, project) of a super_user who may write every section."""
    access.assign("super_user")
    project = new_project(dbname, tenant, access, f"ext-{uuid.uuid4().hex[:8]}")
    with app_session(dbname, tenant) as app:
        app.commit()
        yield app, project


def test_a_document_declaring_its_instances_external_keeps_them_outside_and_reads_the_same(dbname, tenant, writer):
    app, project = writer
    doc = declaring(many_instances(2 * SEGMENT + 500), threshold=2_000)
    doc_id = create(app, tenant, project, doc)
    version, doc_hash, external, doc_json = stored(dbname, doc_id)
    # Three segments of at most 1,000 instances, each a blob; the row holds an empty array in their place.
    assert list(external) == ["/instances"] and len(external["/instances"]) == 3
    assert doc_json["instances"] == [] and doc_json["meta"] == doc["meta"]
    with su_connect(dbname) as su:
        sizes = su.execute(
            "select jsonb_array_length(b.content) from jsonb_array_elements_text(%s) with ordinality as h (sha, n)"
            " join odl.document_blobs as b on b.tenant_id = %s and b.sha256 = h.sha order by h.n",
            (Jsonb(external["/instances"]), tenant[0]),
        ).fetchall()
        assert [size for (size,) in sizes] == [SEGMENT, SEGMENT, 500]
        # The hash is the RFC 8785 hash of the whole document, as the database computes it.
        assert su.execute("select odl.odl_content_hash(%s)", (Jsonb(doc),)).fetchone()[0] == doc_hash
    # A blob's address is the SHA-256 of its canonical text.
    first = canonical.canonical_json(doc["instances"][:SEGMENT])
    assert external["/instances"][0] == hashlib.sha256(first.encode()).hexdigest()
    assert read(app, tenant, doc_id) == doc


def test_at_or_below_its_threshold_or_without_the_declaration_a_document_is_stored_whole(dbname, tenant, writer):
    app, project = writer
    for doc in (declaring(many_instances(1_200), threshold=1_200), many_instances(1_200)):
        doc_id = create(app, tenant, project, doc)
        assert stored(dbname, doc_id)[2] is None
        assert stored(dbname, doc_id)[3] == doc


def test_stored_outside_or_whole_the_document_hash_reads_and_projections_are_the_same(dbname, tenant, writer):
    app, project = writer
    doc = many_instances(1_500)
    doc["instances"][7]["name"] = {"$ref": "s3://bucket/names.json#/7"}  # a user's own reference is content
    whole = create(app, tenant, project, doc)
    outside = create(app, tenant, project, doc)
    assert set(set_external(app, tenant, outside, "/instances", True, 1)) == {"/instances"}
    operations = [
        {"op": "replace", "path": "/instances/1200/lifecycle_status", "value": "installed"},
        {"op": "add", "path": "/instances/-", "value": {**doc["instances"][0], "id": "EXT-NEW"}},
        {"op": "remove", "path": "/instances/3"},
    ]
    assert patch(app, tenant, whole, operations, 1) == patch(app, tenant, outside, operations, 1)
    assert stored(dbname, outside)[2] is not None and stored(dbname, whole)[2] is None
    assert stored(dbname, whole)[1] == stored(dbname, outside)[1]
    for version in (1, 2):
        assert read(app, tenant, whole, version) == read(app, tenant, outside, version)
    assert read(app, tenant, outside)["instances"][6]["name"] == {"$ref": "s3://bucket/names.json#/7"}
    # Chunks are cut later, by the worker (odl.chunk_recut): compared after the rebuilds below.
    now_whole, now_outside = projections(dbname, whole), projections(dbname, outside)
    assert {k: v for k, v in now_whole.items() if k != "chunks"} == {
        k: v for k, v in now_outside.items() if k != "chunks"
    }
    with su_connect(dbname) as su:
        for rebuild in ("rebuild_instances", "rebuild_graph", "rebuild_components", "rebuild_chunks"):
            for doc_id in (whole, outside):
                su.execute(f"select odl.{rebuild}(%s)", (doc_id,))
    rebuilt = projections(dbname, outside)
    assert rebuilt["chunks"] and rebuilt["document_instances"], "rebuilt from the resolved document"
    assert projections(dbname, whole) == rebuilt


def test_a_patch_to_one_instance_writes_one_new_segment(dbname, tenant, writer):
    app, project = writer
    doc = declaring(many_instances(3 * SEGMENT), threshold=10)
    doc_id = create(app, tenant, project, doc)
    before = stored(dbname, doc_id)[2]["/instances"]
    blobs = blob_count(dbname, tenant[0])
    patch(app, tenant, doc_id, [{"op": "replace", "path": "/instances/1500/lifecycle_status", "value": "installed"}], 1)
    after = stored(dbname, doc_id)[2]["/instances"]
    assert [a == b for a, b in zip(before, after)] == [True, False, True]
    assert blob_count(dbname, tenant[0]) == blobs + 1


def test_a_rolled_back_patch_leaves_readers_nothing_new(dbname, tenant, writer):
    app, project = writer
    doc = declaring(many_instances(2 * SEGMENT), threshold=10)
    doc_id = create(app, tenant, project, doc)
    before = stored(dbname, doc_id)
    blobs = blob_count(dbname, tenant[0])
    app.execute("select odl.odl_set_context(%s, %s)", tenant)
    app.execute(
        "select odl.odl_apply_patch(%s, %s, 1)",
        (doc_id, Jsonb([{"op": "replace", "path": "/instances/5/lifecycle_status", "value": "installed"}])),
    )
    app.rollback()
    assert stored(dbname, doc_id) == before and blob_count(dbname, tenant[0]) == blobs
    # The same backend's next write starts from the stored version, not from the rolled-back one.
    patch(app, tenant, doc_id, [{"op": "replace", "path": "/instances/6/lifecycle_status", "value": "installed"}], 1)
    doc["instances"][6]["lifecycle_status"] = "installed"
    assert read(app, tenant, doc_id) == doc


def test_another_backend_never_writes_from_a_stale_document(dbname, tenant, writer):
    app, project = writer
    doc = declaring(many_instances(2 * SEGMENT), threshold=10)
    doc_id = create(app, tenant, project, doc)
    with app_session(dbname, tenant) as other:
        other.commit()
        version = 1
        for n, conn in enumerate((app, other, app, other, other, app)):
            pointer = f"/instances/{(n * 700) % len(doc['instances'])}/lifecycle_status"
            status = STATUSES[n % len(STATUSES)]
            version, _ = patch(conn, tenant, doc_id, [{"op": "replace", "path": pointer, "value": status}], version)
            doc["instances"][(n * 700) % len(doc["instances"])]["lifecycle_status"] = status
        # A blob set aside by the purge is fetched again by the backend that lacks it.
        with su_connect(dbname) as su:
            su.execute("select odl.blob_purge()")
        assert read(other, tenant, doc_id) == doc
        patch(app, tenant, doc_id, [{"op": "test", "path": "/instances/0/id", "value": "EXT-00000"}], version)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_patches_outside_equal_the_same_patches_on_the_whole_document(dbname, tenant, writer, data):
    app, project = writer
    doc = many_instances(data.draw(st.sampled_from([5, 1_001, 2_100]), label="instances"))
    whole = create(app, tenant, project, doc)
    outside = create(app, tenant, project, doc)
    set_external(app, tenant, outside, "/instances", True, 1)
    model = Model(doc)
    version = 1
    for _ in range(data.draw(st.integers(1, 5), label="patches")):
        operations = model.patch(data.draw)
        got_whole = patch(app, tenant, whole, operations, version)
        got_outside = patch(app, tenant, outside, operations, version)
        assert got_whole == got_outside
        version = got_whole[0]
        assert read(app, tenant, outside) == model.doc
    assert projections(dbname, whole)["document_instances"] == projections(dbname, outside)["document_instances"]


def test_odl_set_external_moves_a_marked_sub_tree_and_back_without_a_new_version(dbname, tenant, writer):
    app, project = writer
    doc = many_instances(20)
    doc_id = create(app, tenant, project, doc)
    _, doc_hash, _, _ = stored(dbname, doc_id)
    assert set(set_external(app, tenant, doc_id, "/analysis", True, 1)) == {"/analysis"}
    version, hash_outside, external, doc_json = stored(dbname, doc_id)
    assert (version, hash_outside) == (1, doc_hash) and doc_json["analysis"] == []
    assert read(app, tenant, doc_id) == doc
    assert set_external(app, tenant, doc_id, "/analysis", False, 1) == {}
    assert stored(dbname, doc_id)[2:] == (None, doc)
    with su_connect(dbname) as su:
        actions = su.execute(
            "select payload ->> 'pointer', payload ->> 'external' from odl.audit_events"
            " where doc_id = %s and action = 'document.storage_changed' order by seq",
            (doc_id,),
        ).fetchall()
    assert actions == [("/analysis", "true"), ("/analysis", "false")]


@pytest.mark.parametrize(
    ("pointer", "external", "sqlstate"),
    [
        ("", True, "ODB02"),
        ("/schema_version", True, "ODB02"),
        ("/meta/no_such_member", True, "ODB02"),
        ("/hierarchy/no/such/place", True, "ODB02"),
        ("/instances", False, "ODB03"),
    ],
)
def test_odl_set_external_refuses_what_it_cannot_do(dbname, tenant, writer, pointer, external, sqlstate):
    app, project = writer
    doc_id = create(app, tenant, project, declaring(many_instances(30), threshold=10))
    before = stored(dbname, doc_id)
    app.execute("select odl.odl_set_context(%s, %s)", tenant)
    with pytest.raises(psycopg.Error) as raised:
        app.execute("select odl.odl_set_external(%s, %s, %s, 1)", (doc_id, pointer, external))
    app.rollback()
    assert raised.value.sqlstate == sqlstate
    assert stored(dbname, doc_id) == before


def test_odl_set_external_needs_the_current_version_and_write_rights(dbname, tenant, access, writer):
    app, project = writer
    doc_id = create(app, tenant, project, many_instances(30))
    app.execute("select odl.odl_set_context(%s, %s)", tenant)
    with pytest.raises(psycopg.Error) as raised:
        app.execute("select odl.odl_set_external(%s, '/instances', true, 2)", (doc_id,))
    app.rollback()
    assert raised.value.sqlstate == "ODV01"
    guest = access.create_user("guest")
    access.assign("guest", guest)
    with app_session(dbname, (tenant[0], guest)) as conn:
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("select odl.odl_set_external(%s, '/instances', true, 1)", (doc_id,))
    assert raised.value.sqlstate.startswith("ODR")


def test_the_purge_removes_only_blobs_nothing_names(dbname, tenant, writer):
    app, project = writer
    doc = declaring(many_instances(2 * SEGMENT), threshold=10)
    doc_id = create(app, tenant, project, doc)
    version = 1
    for status in ("procured", "installed", "commissioned"):
        version, _ = patch(
            app, tenant, doc_id, [{"op": "replace", "path": "/instances/10/lifecycle_status", "value": status}], version
        )
    doc["instances"][10]["lifecycle_status"] = "commissioned"
    # Version 1 is a snapshot (its two segments), version 4 the current one (a new first segment):
    # the first segments of versions 2 and 3 are named by nothing.
    assert blob_count(dbname, tenant[0]) == 5
    with su_connect(dbname) as su:
        assert su.execute("select odl.blob_purge()").fetchone()[0] >= 2  # other tests' tenants too
        assert su.execute("select odl.blob_purge()").fetchone()[0] == 0
    assert blob_count(dbname, tenant[0]) == 3
    assert read(app, tenant, doc_id) == doc
    assert read(app, tenant, doc_id, 2)["instances"][10]["lifecycle_status"] == "procured"


def test_a_missing_blob_is_named_rather_than_read_as_an_empty_array(dbname, tenant, writer):
    app, project = writer
    doc_id = create(app, tenant, project, declaring(many_instances(50), threshold=10))
    # The blobs go in a transaction that is rolled back: a document left
    # broken would fail the other modules' workers in this database.
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        su.execute("delete from odl.document_blobs where tenant_id = %s", (tenant[0],))
        su.execute("set role odl_app")
        su.execute("select odl.odl_set_context(%s, %s)", tenant)
        with pytest.raises(psycopg.Error) as raised:
            su.execute("select document from odl.odl_get_document(%s)", (doc_id,))
        su.rollback()
    assert raised.value.sqlstate == "ODB01"
    app.execute("select odl.odl_set_context(%s, %s)", tenant)
    assert app.execute("select odl.odl_get_document(%s) is not null", (doc_id,)).fetchone() == (True,)
    app.rollback()


def test_analysts_read_a_document_kept_outside_whole(dbname, tenant, writer):
    app, project = writer
    doc = declaring(many_instances(40), threshold=10)
    doc_id = create(app, tenant, project, doc)
    with su_connect(dbname) as su:
        su.execute("begin")
        su.execute("set local role odl_owner")
        su.execute("select odl.odl_set_context(%s, %s)", tenant)
        (document,) = su.execute(
            "select document from odl.readable_documents where doc_id = %s", (doc_id,)
        ).fetchone()
        su.execute("rollback")
    assert document["instances"] == doc["instances"]


def test_stored_form_helpers_keep_unchanged_segments_by_identity():
    """Pure: the storage form of a patched document reuses every segment
    whose elements are the previous state's very pieces."""
    from odl_db import jsonpatch, pieces

    doc = {"instances": [{"id": f"I-{n}", "x": n} for n in range(2_500)], "meta": {"a": 1}}
    tree, piece = pieces.from_text(json.dumps(doc))
    first = documents.stored_form(piece, ["/instances"], None)
    assert json.loads(first.text) == {"instances": [], "meta": {"a": 1}}
    assert len(first.new_hashes) == 3
    patched, _ = jsonpatch.apply(tree, [{"op": "replace", "path": "/instances/2400/x", "value": -1}],
                                 copy_on_write=True)
    second = documents.stored_form(pieces.build(patched, piece), ["/instances"], first.parts)
    assert second.external["/instances"][:2] == first.external["/instances"][:2]
    assert len(second.new_hashes) == 1 and second.new_hashes[0] == second.external["/instances"][2]


def test_the_purge_waits_for_a_writer_that_has_not_committed(dbname, tenant, writer):
    """A writer's new blob is invisible to the purge until it commits: the
    purge takes the table exclusively, so it waits rather than deleting a
    blob a version is about to name."""
    app, project = writer
    doc = declaring(many_instances(1_500), threshold=10)
    doc_id = create(app, tenant, project, doc)
    app.execute("select odl.odl_set_context(%s, %s)", tenant)
    app.execute(
        "select odl.odl_apply_patch(%s, %s, 1)",
        (doc_id, Jsonb([{"op": "replace", "path": "/instances/1/lifecycle_status", "value": "installed"}])),
    )
    with su_connect(dbname) as su:
        su.execute("set lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            su.execute("select odl.blob_purge()")
        app.commit()
        su.execute("select odl.blob_purge()")
    doc["instances"][1]["lifecycle_status"] = "installed"
    assert read(app, tenant, doc_id) == doc


def test_reverting_the_writer_writes_every_document_whole_again():
    """No content goes with the blobs: the revert of documents_api, the
    writer that keeps sub-trees outside, first puts every document and
    snapshot back whole, so the released readers it restores read them;
    the tables go with external_refs, reverted with @v0.2.0."""
    name = create_database("odl_extref_revert")
    try:
        assert sqitch("deploy", name).returncode == 0
        with psycopg.connect(server_conninfo(dbname=name), autocommit=True) as su:
            su.execute("set role odl_admin")
            tenant_id = su.execute("select odl.odl_create_tenant('revert', 'EU')").fetchone()[0]
            user_id = su.execute(
                "select odl.odl_create_user(%s, 'r@example.com', 'super_user')", (tenant_id,)
            ).fetchone()[0]
        doc = declaring(many_instances(1_200), threshold=10)
        with psycopg.connect(server_conninfo(dbname=name, user="odl_app")) as app:
            app.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
            node = app.execute("select odl.odl_create_node(null, 'PORTFOLIO', 'p')").fetchone()[0]
            app.execute("select odl.odl_assign_role(%s, %s, 'super_user')", (user_id, node))
            project = app.execute("select odl.odl_create_project('p')").fetchone()[0]
            app.execute("select odl.odl_attach_project(%s, %s)", (project, node))
            doc_id = app.execute("select odl.odl_create_document(%s, %s)", (project, Jsonb(doc))).fetchone()[0]
            app.commit()
        with psycopg.connect(server_conninfo(dbname=name), autocommit=True) as su:
            (doc_hash, external) = su.execute(
                "select doc_hash, external from odl.odl_documents where doc_id = %s", (doc_id,)
            ).fetchone()
            assert external is not None
        # ai_memory_api is the change before the rework of documents_api.
        reverted = sqitch("revert", name, "-y", "--to", "ai_memory_api")
        assert reverted.returncode == 0, reverted.stdout + reverted.stderr
        with psycopg.connect(server_conninfo(dbname=name), autocommit=True) as su:
            assert su.execute(
                "select doc_json, doc_hash, external from odl.odl_documents where doc_id = %s", (doc_id,)
            ).fetchone() == (doc, doc_hash, None)
            assert su.execute(
                "select doc_json, external from odl.odl_document_versions where doc_id = %s and version = 1",
                (doc_id,),
            ).fetchone() == (doc, None)
        reverted = sqitch("revert", name, "-y", "--to", "@v0.2.0")
        assert reverted.returncode == 0, reverted.stdout + reverted.stderr
        with psycopg.connect(server_conninfo(dbname=name), autocommit=True) as su:
            assert su.execute(
                "select doc_json, doc_hash from odl.odl_documents where doc_id = %s", (doc_id,)
            ).fetchone() == (doc, doc_hash)
            assert su.execute("select to_regclass('odl.document_blobs')").fetchone() == (None,)
    finally:
        drop_database(name)


def test_a_backend_reads_each_blob_once_through_its_lru_cache(dbname, tenant, writer):
    """Two documents with the same instances share their blobs (content
    addressed); a backend that read them for one document finds them in its
    cache for the other, and fetches only what it lacks."""
    app, project = writer
    doc = declaring(many_instances(2 * SEGMENT), threshold=10)
    first, second = create(app, tenant, project, doc), create(app, tenant, project, doc)
    assert stored(dbname, first)[2] == stored(dbname, second)[2]
    operation = [{"op": "replace", "path": "/instances/0/lifecycle_status", "value": "installed"}]
    with psycopg.connect(server_conninfo(dbname=dbname)) as owner:  # a backend that holds neither document
        owner.execute("set role odl_owner")

        def write(doc_id: str) -> dict:
            owner.execute("select odl.odl_set_context(%s, %s)", tenant)
            owner.execute(
                "select * from odl.write_patch(%s, %s, 1, null, '{}', null, false, 100)", (doc_id, Jsonb(operation))
            )
            (stats,) = owner.execute("select odl.document_cache_stats()").fetchone()
            owner.commit()
            return stats["blob_cache"]

        after_first, after_second = write(first), write(second)
        assert (after_first["hits"], after_first["misses"]) == (0, 2)
        assert (after_second["hits"], after_second["misses"]) == (2, 2)
