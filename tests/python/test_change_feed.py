"""The change feed through the API: after every patch and revert that
odl_apply_patch() and odl_revert_document() store, odl.document_instances
equals the instances of the stored document (projected here in Python, on
its own), and odl_changes_since() lists every version once, in order, with
the pointers it changed. Two writers whose transactions commit out of order
show that the feed never skips a change."""

from __future__ import annotations

import copy
import sys
import threading
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from conftest import TOP, TenantAccess, create_database, drop_database, server_conninfo, sqitch

sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

STATUSES = ("planned", "procured", "installed", "commissioned", "operational", "maintenance", "decommissioned")
FIELDS = ("type_ref", "parent_ref", "lifecycle_status", "location")


def base_document() -> dict:
    """A small generated document whose instances no connection names, so
    that patches may rename and remove any of them."""
    doc = odlsd.generate(10_000, seed=11)
    doc["connections"] = []
    return doc


BASE = base_document()
TYPE_REFS = sorted({i["type_ref"] for i in BASE["instances"]})
PARENT_REFS = sorted({i["parent_ref"] for i in BASE["instances"] if "parent_ref" in i})


def projection(doc: dict) -> list[tuple]:
    """The rows a full rebuild gives: each element of /instances that is an
    object with a string id (the first one of a repeated id), in order."""
    rows, seen = [], set()
    instances = doc.get("instances")
    for position, element in enumerate(instances if isinstance(instances, list) else []):
        if not isinstance(element, dict) or not isinstance(element.get("id"), str) or element["id"] in seen:
            continue
        seen.add(element["id"])
        rows.append((position, element["id"], *(text_of(element.get(f)) for f in FIELDS[:3]), element.get("location")))
    return rows


def text_of(value: Any) -> str | None:
    """What jsonb's ->> gives for a member (the generated ones are strings)."""
    return value if value is None or isinstance(value, str) else str(value)


def stored_rows(su: psycopg.Connection, doc_id: str) -> list[tuple]:
    rows = su.execute(
        "select position, instance_id, type_ref, parent_ref, lifecycle_status, location"
        " from odl.document_instances where doc_id = %s order by position",
        (doc_id,),
    ).fetchall()
    su.commit()
    return rows


def stored_document(su: psycopg.Connection, doc_id: str) -> dict:
    (doc,) = su.execute("select doc_json from odl.odl_documents where doc_id = %s", (doc_id,)).fetchone()
    su.commit()
    return doc


def expected_pointers(patch: list[dict]) -> list[str]:
    """The pointers a patch changed, by the rule of the feed: every path a
    non-test operation writes (and a move's from); an add, remove, move or
    copy of an array element counts as the whole array; none under another."""
    found = set()
    for op in patch:
        if op["op"] == "test":
            continue
        for member in ("path", "from") if op["op"] == "move" else ("path",):
            pointer = op[member]
            last = pointer.rsplit("/", 1)[-1]
            if op["op"] != "replace" and (last.isdigit() or last == "-"):
                pointer = pointer.rsplit("/", 1)[0]
            found.add(pointer)
    kept = [p for p in found if not any(q == "" or p.startswith(q + "/") for q in found if q != p)]
    return sorted(kept)


class Model:
    """The document as the test believes it is, to draw patches that apply."""

    def __init__(self, doc: dict):
        self.doc = copy.deepcopy(doc)
        self.serial = 0

    def new_id(self) -> str:
        self.serial += 1
        return f"NEW-{self.serial:03d}"

    def new_instance(self, draw) -> dict:
        instance = {"id": self.new_id(), "type_ref": draw(st.sampled_from(TYPE_REFS))}
        if draw(st.booleans()):
            instance["parent_ref"] = draw(st.sampled_from(PARENT_REFS))
        if draw(st.booleans()):
            instance["lifecycle_status"] = draw(st.sampled_from(STATUSES))
        if draw(st.booleans()):
            instance["location"] = {"lat": draw(st.integers(-90, 90)), "lon": draw(st.integers(-180, 180))}
        return instance

    def operation(self, draw) -> list[dict]:
        """One change of the instances (one or two operations)."""
        instances = self.doc.get("instances")
        if not isinstance(instances, list):
            return [{"op": "add", "path": "/instances", "value": [self.new_instance(draw)]}]
        n = len(instances)
        kinds = ["add", "add_end"] + (["replace_field", "remove_field", "rename", "remove", "move", "copy",
                                       "move_field", "replace_instance"] if n else []) + ["drop_all"] * (n > 0)
        kind = draw(st.sampled_from(kinds))
        if kind == "add":
            return [{"op": "add", "path": f"/instances/{draw(st.integers(0, n))}", "value": self.new_instance(draw)}]
        if kind == "add_end":
            return [{"op": "add", "path": "/instances/-", "value": self.new_instance(draw)}]
        if kind == "drop_all":
            return [draw(st.sampled_from([{"op": "remove", "path": "/instances"},
                                          {"op": "replace", "path": "/instances", "value": []}]))]
        i = draw(st.integers(0, n - 1))
        if kind == "replace_field":
            field = draw(st.sampled_from(("type_ref", "parent_ref", "lifecycle_status")))
            value = draw(st.sampled_from({"type_ref": TYPE_REFS, "parent_ref": PARENT_REFS,
                                          "lifecycle_status": STATUSES}[field]))
            return [{"op": "add", "path": f"/instances/{i}/{field}", "value": value}]
        if kind == "remove_field":
            present = [f for f in ("parent_ref", "lifecycle_status", "location") if f in instances[i]]
            if not present:
                return [{"op": "add", "path": f"/instances/{i}/location", "value": {"lat": 1.5, "lon": 2.25}}]
            return [{"op": "remove", "path": f"/instances/{i}/{draw(st.sampled_from(present))}"}]
        if kind == "rename":
            return [{"op": "replace", "path": f"/instances/{i}/id", "value": self.new_id()}]
        if kind == "remove":
            return [{"op": "remove", "path": f"/instances/{i}"}]
        if kind == "move":
            return [{"op": "move", "from": f"/instances/{i}", "path": f"/instances/{draw(st.integers(0, n - 1))}"}]
        if kind == "copy":
            j = draw(st.integers(0, n))
            return [{"op": "copy", "from": f"/instances/{i}", "path": f"/instances/{j}"},
                    {"op": "replace", "path": f"/instances/{j}/id", "value": self.new_id()}]
        if kind == "move_field":
            j = draw(st.integers(0, n - 1))
            if "lifecycle_status" not in instances[i] or i == j:
                return [{"op": "test", "path": f"/instances/{i}/id", "value": instances[i]["id"]},
                        {"op": "add", "path": f"/instances/{i}/lifecycle_status", "value": "maintenance"}]
            return [{"op": "move", "from": f"/instances/{i}/lifecycle_status",
                     "path": f"/instances/{j}/lifecycle_status"}]
        replacement = self.new_instance(draw)
        return [{"op": "replace", "path": f"/instances/{i}", "value": replacement}]

    def patch(self, draw) -> list[dict]:
        """One to three changes, applied to the model as they are drawn."""
        patch = []
        for _ in range(draw(st.integers(1, 3))):
            ops = self.operation(draw)
            for op in ops:
                self.apply(op)
            patch += ops
        return patch

    def apply(self, op: dict) -> None:
        def locate(pointer: str) -> tuple[Any, str]:
            steps = pointer.split("/")[1:]
            parent = self.doc
            for step in steps[:-1]:
                parent = parent[int(step)] if isinstance(parent, list) else parent[step]
            return parent, steps[-1]

        def remove(pointer: str) -> Any:
            parent, key = locate(pointer)
            return parent.pop(int(key)) if isinstance(parent, list) else parent.pop(key)

        def add(pointer: str, value: Any) -> None:
            parent, key = locate(pointer)
            if isinstance(parent, list):
                parent.insert(len(parent) if key == "-" else int(key), value)
            else:
                parent[key] = value

        if op["op"] == "test":
            return
        if op["op"] == "add":
            add(op["path"], copy.deepcopy(op["value"]))
        elif op["op"] == "remove":
            remove(op["path"])
        elif op["op"] == "replace":
            parent, key = locate(op["path"])
            parent[int(key) if isinstance(parent, list) else key] = copy.deepcopy(op["value"])
        elif op["op"] == "move":
            add(op["path"], remove(op["from"]))
        elif op["op"] == "copy":
            parent, key = locate(op["from"])
            add(op["path"], copy.deepcopy(parent[int(key)] if isinstance(parent, list) else parent[key]))


def app_session(dbname: str, tenant) -> psycopg.Connection:
    conn = psycopg.connect(server_conninfo(dbname=dbname, user="odl_app"))
    conn.execute("select odl.odl_set_context(%s, %s)", tenant)
    return conn


def new_project(dbname: str, tenant, access, name: str) -> str:
    with app_session(dbname, tenant) as conn:
        project = conn.execute("select odl.odl_create_project(%s)", (name,)).fetchone()[0]
    access.attach(project)
    return project


def create_document(dbname: str, tenant, project: str, doc: dict) -> str:
    with app_session(dbname, tenant) as conn:
        return conn.execute("select odl.odl_create_document(%s, %s)", (project, Jsonb(doc))).fetchone()[0]


def feed(conn: psycopg.Connection, tenant, after: str | None) -> list[tuple]:
    conn.execute("select odl.odl_set_context(%s, %s)", tenant)
    rows = conn.execute(
        'select "position", doc_id, version, changed_pointers from odl.odl_changes_since(%s)', (after,)
    ).fetchall()
    conn.commit()
    return rows


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_projection_equals_a_rebuild_and_the_feed_lists_every_version(dbname, tenant, access, data):
    access.assign("super_user")
    project = new_project(dbname, tenant, access, f"feed-{uuid.uuid4().hex[:8]}")
    with psycopg.connect(server_conninfo(dbname=dbname)) as su, app_session(dbname, tenant) as app:
        doc_id = create_document(dbname, tenant, project, BASE)
        assert stored_rows(su, doc_id) == projection(BASE)
        model = Model(BASE)
        expected = [(1, [""])]
        version = 1
        for _ in range(data.draw(st.integers(1, 8), label="steps")):
            app.execute("select odl.odl_set_context(%s, %s)", tenant)
            if version > 1 and data.draw(st.integers(0, 5), label="revert?") == 0:
                to = data.draw(st.integers(1, version - 1), label="revert to")
                (version,) = app.execute(
                    "select version from odl.odl_revert_document(%s, %s, %s)", (doc_id, to, version)
                ).fetchone()
                app.commit()
                model = Model(stored_document(su, doc_id))
                model.serial = 1000 * version
                (recorded,) = su.execute(
                    "select patch_json from odl.odl_patches where doc_id = %s and to_version = %s", (doc_id, version)
                ).fetchone()
                su.commit()
                expected.append((version, expected_pointers(recorded)))
            else:
                patch = model.patch(data.draw)
                (version,) = app.execute(
                    "select version from odl.odl_apply_patch(%s, %s, %s)", (doc_id, Jsonb(patch), version)
                ).fetchone()
                app.commit()
                assert stored_document(su, doc_id) == model.doc
                expected.append((version, expected_pointers(patch)))
            assert stored_rows(su, doc_id) == projection(stored_document(su, doc_id))

        listed = [row for row in feed(app, tenant, None) if row[1] == doc_id]
        assert [(v, pointers) for _, _, v, pointers in listed] == expected
        positions = [p for p, *_ in listed]
        assert len(set(positions)) == len(positions)


def test_a_change_committed_late_is_not_skipped(dbname, tenant, access):
    """Writer A's transaction takes its id first (as any write would; the
    context writes nothing) and commits last; writer B patches and commits in
    between. (Writers of one tenant serialize on the audit chain from their
    append to their commit, so B cannot commit while A holds a written
    version.) A reader polling all the while gets both versions, A's first,
    and none before A has ended: had it been handed B's position, A's
    version would land behind it."""
    access.assign("super_user")
    project = new_project(dbname, tenant, access, "late")
    doc_a = create_document(dbname, tenant, project, BASE)
    doc_b = create_document(dbname, tenant, project, BASE)
    patch = Jsonb([{"op": "replace", "path": "/instances/0/lifecycle_status", "value": "maintenance"}])
    with app_session(dbname, tenant) as reader:
        reader.commit()
        cursor = feed(reader, tenant, None)[-1][0]
        with app_session(dbname, tenant) as a, app_session(dbname, tenant) as b:
            a.execute("select pg_current_xact_id()")
            b.execute("select odl.odl_apply_patch(%s, %s, 1)", (doc_b, patch))
            b.commit()
            assert feed(reader, tenant, cursor) == [], "B's version must wait until A, which began first, has ended"
            a.execute("select odl.odl_apply_patch(%s, %s, 1)", (doc_a, patch))
            assert feed(reader, tenant, cursor) == []
            a.commit()
        seen = feed(reader, tenant, cursor)
    assert [(doc, version, pointers) for _, doc, version, pointers in seen] == [
        (doc_a, 2, ["/instances/0/lifecycle_status"]),
        (doc_b, 2, ["/instances/0/lifecycle_status"]),
    ]
    xid_a, xid_b = (int(position.split(":")[0]) for position, *_ in seen)
    assert xid_a < xid_b


def test_a_transaction_of_another_database_holds_nothing_back(dbname, tenant, access):
    """A transaction holding an xid in another database of the cluster can
    never write this database's versions: the feed serves on past it. One
    of this database (the test above) still holds the feed back."""
    access.assign("super_user")
    project = new_project(dbname, tenant, access, "elsewhere")
    doc_id = create_document(dbname, tenant, project, BASE)
    patch = Jsonb([{"op": "replace", "path": "/instances/0/lifecycle_status", "value": "maintenance"}])
    other = create_database("odl_feed_other")
    try:
        with psycopg.connect(server_conninfo(dbname=other)) as elsewhere, app_session(dbname, tenant) as reader:
            held = elsewhere.execute("select pg_current_xact_id()").fetchone()[0]
            reader.commit()
            cursor = feed(reader, tenant, None)[-1][0]
            with app_session(dbname, tenant) as writer:
                writer.execute("select odl.odl_apply_patch(%s, %s, 1)", (doc_id, patch))
                writer.commit()
            seen = feed(reader, tenant, cursor)
            assert [(doc, version) for _, doc, version, _ in seen] == [(doc_id, 2)]
            assert int(seen[0][0].split(":")[0]) > int(held)
            elsewhere.rollback()
    finally:
        drop_database(other)


def test_short_transactions_of_another_database_hold_nothing_back(dbname, tenant, access):
    """Another database commits one short transaction after another. An xid
    of it may be running when the reader's snapshot is taken and be gone
    before the reader looks up where it ran; it must not hold back a version
    committed before the reader began (found by make test on two workers)."""
    access.assign("super_user")
    project = new_project(dbname, tenant, access, "busy")
    doc_id = create_document(dbname, tenant, project, BASE)
    other = create_database("odl_feed_busy")
    stop = threading.Event()

    def churn() -> None:
        with psycopg.connect(server_conninfo(dbname=other), autocommit=True) as busy:
            while not stop.is_set():
                busy.execute("select pg_current_xact_id(), pg_sleep(0.003)")

    workers = [threading.Thread(target=churn) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        with app_session(dbname, tenant) as reader, app_session(dbname, tenant) as writer:
            reader.commit()
            cursor = feed(reader, tenant, None)[-1][0]
            for version in range(1, 101):
                status = STATUSES[version % len(STATUSES)]
                patch = Jsonb([{"op": "replace", "path": "/instances/0/lifecycle_status", "value": status}])
                writer.execute("select odl.odl_set_context(%s, %s)", tenant)
                writer.execute("select odl.odl_apply_patch(%s, %s, %s)", (doc_id, patch, version))
                writer.commit()
                seen = feed(reader, tenant, cursor)
                assert [(doc, v) for _, doc, v, _ in seen] == [(doc_id, version + 1)], f"patch {version}"
                cursor = seen[-1][0]
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        drop_database(other)


def test_versions_of_a_document_keep_their_order_when_the_later_writer_began_first(dbname, tenant, access):
    """Writer A takes its transaction id first, but B patches the document
    and commits before A does: A's version 3 still comes after B's version 2
    in the feed."""
    access.assign("super_user")
    project = new_project(dbname, tenant, access, "order")
    doc_id = create_document(dbname, tenant, project, BASE)
    patch = Jsonb([{"op": "replace", "path": "/instances/1/lifecycle_status", "value": "installed"}])
    with app_session(dbname, tenant) as a, app_session(dbname, tenant) as b:
        a.execute("select pg_current_xact_id()")
        b.execute("select odl.odl_apply_patch(%s, %s, 1)", (doc_id, patch))
        b.commit()
        a.execute("select odl.odl_apply_patch(%s, %s, 2)", (doc_id, patch))
        a.commit()
    with app_session(dbname, tenant) as reader:
        reader.commit()
        listed = [version for _, doc, version, _ in feed(reader, tenant, None) if doc == doc_id]
    assert listed == [1, 2, 3]


def test_upgrading_from_v0_1_0_projects_the_stored_documents():
    """A document stored under v0.1.0 is projected when v2 deploys; its
    version comes first in the feed, with no changed pointers, and the next
    patch is projected on top of the backfilled rows."""
    name = create_database("odl_upgrade")
    try:
        result = sqitch("deploy", name, "--to", "@v0.1.0")
        assert result.returncode == 0, result.stdout + result.stderr
        with psycopg.connect(server_conninfo(dbname=name, user="postgres"), autocommit=True) as admin:
            admin.execute("set role odl_admin")
            tenant_id = admin.execute("select odl.odl_create_tenant('upgrade', 'EU')").fetchone()[0]
            user_id = admin.execute(
                "select odl.odl_create_user(%s, 'eng@example.com', 'engineer')", (tenant_id,)
            ).fetchone()[0]
        tenant = (tenant_id, user_id)
        access = TenantAccess(name, tenant)
        access.assign("super_user")
        old = odlsd.generate(10_000, seed=7)
        project = new_project(name, tenant, access, "upgrade")
        doc_id = create_document(name, tenant, project, old)

        result = sqitch("deploy", name, "--verify")
        assert result.returncode == 0, result.stdout + result.stderr
        with psycopg.connect(server_conninfo(dbname=name)) as su:
            assert stored_rows(su, doc_id) == projection(old)
            with app_session(name, tenant) as app:
                patch = [{"op": "remove", "path": "/instances/1/lifecycle_status"}]
                app.execute("select odl.odl_apply_patch(%s, %s, 1)", (doc_id, Jsonb(patch)))
                app.commit()
                listed = feed(app, tenant, None)
            assert stored_rows(su, doc_id) == projection(stored_document(su, doc_id))
        assert [(doc, version, pointers) for _, doc, version, pointers in listed] == [
            (doc_id, 1, None), (doc_id, 2, ["/instances/1/lifecycle_status"]),
        ]
        assert listed[0][0].startswith("0:")
    finally:
        drop_database(name)


def test_a_refused_patch_leaves_the_projection_and_the_feed_as_they_were(dbname, tenant, access):
    access.assign("super_user")
    project = new_project(dbname, tenant, access, "refused")
    doc_id = create_document(dbname, tenant, project, BASE)
    duplicate = [{"op": "copy", "from": "/instances/0", "path": "/instances/1"}]
    with app_session(dbname, tenant) as app, psycopg.connect(server_conninfo(dbname=dbname)) as su:
        before = stored_rows(su, doc_id)
        with pytest.raises(psycopg.Error) as error:
            app.execute("select odl.odl_apply_patch(%s, %s, 1)", (doc_id, Jsonb(duplicate)))
        assert error.value.sqlstate == "ODS02"
        app.rollback()
        assert stored_rows(su, doc_id) == before == projection(BASE)
        assert [version for _, doc, version, _ in feed(app, tenant, None) if doc == doc_id] == [1]
