"""The graph of a document: after every patch odl_apply_patch() stores,
odl.graph_nodes and odl.graph_edges equal the graph computed here in Python
from the stored document, and the SQL rebuild of it; the grounding walks
agree with breadth-first searches and a union-find in Python on generated
plants (both hierarchy forms); a reader who may not read a section gets
nothing of it through the graph; the walks' limits raise ODN01 and ODN02."""

from __future__ import annotations

import json
import sys
import uuid
from collections import deque
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from conftest import TOP, TenantAccess, server_conninfo
from test_change_feed import Model, app_session, create_document, new_project, stored_document

sys.path.insert(0, str(TOP))
from fixtures import odlsd, odlsd_spec  # noqa: E402

ELECTRICAL = ("dc_power", "ac_power")
KINDS = ("dc_power", "ac_power", "data_modbus", "data_can", "data_ethernet", "control_digital", "thermal_liquid")
LEVELS = ("SITE", "PLANT", "BLOCK", "ARRAY", "STRING", "DEVICE")


# --- the graph of a document, computed on its own ------------------------------

def text_of(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def graph_of(doc: dict) -> tuple[set, set]:
    """(nodes, edges) as the projection defines them, keyed by pointer."""
    nodes, edges = set(), set()

    def walk(node: dict, pointer: str) -> None:
        ident = node.get("id")
        if isinstance(ident, str):
            label = node["type"] if isinstance(node.get("type"), str) else text_of(node.get("level"))
            nodes.add((pointer, "hierarchy", None, ident, label))
            if isinstance(node.get("parent_id"), str):
                edges.add((f"{pointer}/parent_id", "hierarchy", None, "contains", node["parent_id"], None, ident,
                           None, None))
        children = node.get("children")
        for k, child in enumerate(children if isinstance(children, list) else []):
            if isinstance(ident, str):
                if isinstance(child, str):
                    edges.add((f"{pointer}/children/{k}", "hierarchy", None, "contains", ident, None, child,
                               None, None))
                elif isinstance(child, dict) and isinstance(child.get("id"), str):
                    edges.add((f"{pointer}/children/{k}", "hierarchy", None, "contains", ident, None, child["id"],
                               None, None))
            if isinstance(child, dict):
                walk(child, f"{pointer}/children/{k}")

    if isinstance(doc.get("hierarchy"), dict):
        walk(doc["hierarchy"], "/hierarchy")
    instances = doc.get("instances")
    for n, element in enumerate(instances if isinstance(instances, list) else []):
        if isinstance(element, dict) and isinstance(element.get("id"), str):
            nodes.add((f"/instances/{n}", "instances", n, element["id"], text_of(element.get("type_ref"))))
            if isinstance(element.get("parent_ref"), str):
                edges.add((f"/instances/{n}/parent_ref", "instances", n, "contains", element["parent_ref"], None,
                           element["id"], None, None))
    connections = doc.get("connections")
    for n, element in enumerate(connections if isinstance(connections, list) else []):
        if not isinstance(element, dict):
            continue
        ends = [element.get(end) if isinstance(element.get(end), dict) else {} for end in ("from", "to")]
        if all(isinstance(end.get("instance_id"), str) for end in ends):
            def string(value: Any) -> str | None:
                return value if isinstance(value, str) else None
            edges.add((f"/connections/{n}", "connections", n, string(element.get("kind")), ends[0]["instance_id"],
                       string(ends[0].get("port_id")), ends[1]["instance_id"], string(ends[1].get("port_id")),
                       string(element.get("id"))))
    return nodes, edges


NODE_COLUMNS = "pointer, section, position, node_id, label"
EDGE_COLUMNS = "pointer, section, position, kind, from_id, from_port, to_id, to_port, connection_id"


def stored_graph(su: psycopg.Connection, doc_id: str) -> tuple[set, set]:
    nodes = set(su.execute(f"select {NODE_COLUMNS} from odl.graph_nodes where doc_id = %s", (doc_id,)).fetchall())
    edges = set(su.execute(f"select {EDGE_COLUMNS} from odl.graph_edges where doc_id = %s", (doc_id,)).fetchall())
    su.commit()
    return nodes, edges


def rebuilt_graph(su: psycopg.Connection, doc_id: str) -> tuple[set, set]:
    """The graph the SQL projection gives the stored document from scratch."""
    sections = ("hierarchy", "instances", "connections")
    (doc,) = su.execute("select doc_json from odl.odl_documents where doc_id = %s", (doc_id,)).fetchone()
    nodes = {row for s in sections for row in su.execute(
        f"select {NODE_COLUMNS} from odl.graph_node_rows(%s, %s)", (Jsonb(doc), s)).fetchall()}
    edges = {row for s in sections for row in su.execute(
        f"select {EDGE_COLUMNS} from odl.graph_edge_rows(%s, %s)", (Jsonb(doc), s)).fetchall()}
    su.commit()
    return nodes, edges


# --- random patches of the three sections ---------------------------------------

def base_document() -> dict:
    """A small spec-style plant; its data_management declares instances
    external (partitioning), so connection ends need not resolve and patches
    may remove or rename any instance."""
    return odlsd_spec.generate(12_000, seed=4, hierarchy="nested", data_management="nested")


BASE = base_document()
TYPE_REFS = sorted({i["type_ref"] for i in BASE["instances"]})


def hierarchy_nodes(doc: dict) -> list[tuple[str, dict]]:
    found = []

    def walk(node: dict, pointer: str) -> None:
        found.append((pointer, node))
        for k, child in enumerate(node.get("children", [])):
            if isinstance(child, dict):
                walk(child, f"{pointer}/children/{k}")

    walk(doc["hierarchy"], "/hierarchy")
    return found


class GraphModel(Model):
    """Draws patches of /hierarchy, /instances and /connections."""

    def ids(self) -> list[str]:
        return [i["id"] for i in self.doc["instances"]] or ["SUB-01"]

    def operation(self, draw) -> list[dict]:
        section = draw(st.sampled_from(("hierarchy", "instances", "connections")))
        return getattr(self, section)(draw)

    def instances(self, draw) -> list[dict]:
        items = self.doc["instances"]
        n = len(items)
        kinds = ("add", "remove", "parent", "unparent", "rename", "type", "move")
        kind = draw(st.sampled_from(kinds if n else ("add",)))
        if kind == "add":
            value = {"id": self.new_id(), "type_ref": draw(st.sampled_from(TYPE_REFS))}
            if draw(st.booleans()):
                value["parent_ref"] = draw(st.sampled_from(self.ids()))
            return [{"op": "add", "path": f"/instances/{draw(st.integers(0, n))}", "value": value}]
        i = draw(st.integers(0, n - 1))
        if kind == "remove":
            return [{"op": "remove", "path": f"/instances/{i}"}]
        if kind == "parent":
            return [{"op": "add", "path": f"/instances/{i}/parent_ref", "value": draw(st.sampled_from(self.ids()))}]
        if kind == "unparent":
            if "parent_ref" not in items[i]:
                return [{"op": "add", "path": f"/instances/{i}/parent_ref", "value": "PLANT-01"}]
            return [{"op": "remove", "path": f"/instances/{i}/parent_ref"}]
        if kind == "rename":
            return [{"op": "replace", "path": f"/instances/{i}/id", "value": self.new_id()}]
        if kind == "type":
            return [{"op": "replace", "path": f"/instances/{i}/type_ref", "value": draw(st.sampled_from(TYPE_REFS))}]
        return [{"op": "move", "from": f"/instances/{i}", "path": f"/instances/{draw(st.integers(0, n - 1))}"}]

    def connections(self, draw) -> list[dict]:
        items = self.doc["connections"]
        n = len(items)
        kind = draw(st.sampled_from(("add", "remove", "end", "kind", "drop_id", "move") if n else ("add",)))
        if kind == "add":
            value = {
                "from": {"instance_id": draw(st.sampled_from(self.ids())), "port_id": "out"},
                "to": {"instance_id": draw(st.sampled_from(self.ids())), "port_id": "in"},
                "kind": draw(st.sampled_from(KINDS)),
            }
            if draw(st.booleans()):
                value["id"] = self.new_id()
            return [{"op": "add", "path": f"/connections/{draw(st.integers(0, n))}", "value": value}]
        i = draw(st.integers(0, n - 1))
        if kind == "remove":
            return [{"op": "remove", "path": f"/connections/{i}"}]
        if kind == "end":
            end = draw(st.sampled_from(("from", "to")))
            return [{"op": "replace", "path": f"/connections/{i}/{end}/instance_id",
                     "value": draw(st.sampled_from(self.ids()))}]
        if kind == "kind":
            return [{"op": "replace", "path": f"/connections/{i}/kind", "value": draw(st.sampled_from(KINDS))}]
        if kind == "drop_id":
            if "id" in items[i]:
                return [{"op": "remove", "path": f"/connections/{i}/id"}]
            return [{"op": "add", "path": f"/connections/{i}/id", "value": self.new_id()}]
        return [{"op": "move", "from": f"/connections/{i}", "path": f"/connections/{draw(st.integers(0, n - 1))}"}]

    def hierarchy(self, draw) -> list[dict]:
        pointer, node = draw(st.sampled_from(hierarchy_nodes(self.doc)))
        children = node.get("children", [])
        kind = draw(st.sampled_from(("nest", "child_id", "parent", "level", "rename")
                                    + (("drop_child",) if children else ())))
        if kind == "nest":
            value = {"id": self.new_id(), "type": draw(st.sampled_from(LEVELS)), "children": []}
            if draw(st.booleans()):
                value["parent_id"] = node["id"]
            return [{"op": "add", "path": f"{pointer}/children/-", "value": value}]
        if kind == "child_id":
            return [{"op": "add", "path": f"{pointer}/children/{draw(st.integers(0, len(children)))}",
                     "value": f"EXT-{self.new_id()}"}]
        if kind == "drop_child":
            return [{"op": "remove", "path": f"{pointer}/children/{draw(st.integers(0, len(children) - 1))}"}]
        if kind == "parent":
            if pointer != "/hierarchy" and "parent_id" in node and draw(st.booleans()):
                return [{"op": "remove", "path": f"{pointer}/parent_id"}]
            return [{"op": "add", "path": f"{pointer}/parent_id", "value": f"EXT-{self.new_id()}"}]
        if kind == "level":
            return [{"op": "replace", "path": f"{pointer}/type", "value": draw(st.sampled_from(LEVELS))}]
        return [{"op": "replace", "path": f"{pointer}/id", "value": self.new_id()}]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_graph_equals_a_rebuild_after_random_patches(dbname, tenant, access, data):
    access.assign("super_user")
    project = new_project(dbname, tenant, access, f"graph-{uuid.uuid4().hex[:8]}")
    with psycopg.connect(server_conninfo(dbname=dbname)) as su, app_session(dbname, tenant) as app:
        doc_id = create_document(dbname, tenant, project, BASE)
        assert stored_graph(su, doc_id) == graph_of(BASE) == rebuilt_graph(su, doc_id)
        model = GraphModel(BASE)
        version = 1
        for _ in range(data.draw(st.integers(1, 15), label="steps")):
            app.execute("select odl.odl_set_context(%s, %s)", tenant)
            patch = model.patch(data.draw)
            (version,) = app.execute(
                "select version from odl.odl_apply_patch(%s, %s, %s)", (doc_id, Jsonb(patch), version)
            ).fetchone()
            app.commit()
            doc = stored_document(su, doc_id)
            assert doc == model.doc
            assert stored_graph(su, doc_id) == graph_of(doc) == rebuilt_graph(su, doc_id), patch


# --- the walks, against breadth-first search in Python -------------------------

PLANTS = {
    "odl-db forms (level, nested)": lambda: odlsd.generate(60_000, seed=5),
    "spec forms (type, nested)": lambda: odlsd_spec.generate(60_000, seed=6, hierarchy="nested"),
    "spec forms (type, child ids)": lambda: odlsd_spec.generate(60_000, seed=7, hierarchy="ids"),
}


@pytest.fixture(scope="module")
def plants(dbname):
    """Each generated plant stored once, in one tenant whose user is a
    super_user at the portfolio: {name: (doc_id, doc)}."""
    with psycopg.connect(server_conninfo(dbname=dbname, user="postgres")) as admin:
        admin.execute("set role odl_admin")
        tenant_id = admin.execute(
            "select odl.odl_create_tenant(%s, 'EU')", (f"g-{uuid.uuid4().hex[:6]}",)
        ).fetchone()[0]
        user_id = admin.execute(
            "select odl.odl_create_user(%s, %s, 'engineer')", (tenant_id, f"{uuid.uuid4().hex[:6]}@example.com")
        ).fetchone()[0]
    tenant = (tenant_id, user_id)
    access = TenantAccess(dbname, tenant)
    access.assign("super_user")
    project = new_project(dbname, tenant, access, "plants")
    stored = {}
    for name, make in PLANTS.items():
        doc = make()
        stored[name] = (create_document(dbname, tenant, project, doc), doc)
    return tenant, access, stored


def adjacency(doc: dict, kinds: tuple[str, ...] | None) -> list[tuple]:
    """The edges of the graph a walk of these kinds follows (all sections readable)."""
    return [e for e in graph_of(doc)[1] if kinds is None or e[3] in kinds]


def bfs(edges: list[tuple], start: str, direction: str) -> dict[str, int]:
    """Depth of every node reached from start: out along from -> to, in
    against it, both either way."""
    forward: dict[str, set] = {}
    for e in edges:
        if direction in ("out", "both"):
            forward.setdefault(e[4], set()).add(e[6])
        if direction in ("in", "both"):
            forward.setdefault(e[6], set()).add(e[4])
    depth = {start: 0}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for there in forward.get(here, ()):
            if there not in depth:
                depth[there] = depth[here] + 1
                queue.append(there)
    return depth


def cited_edges(edges: list[tuple], depth: dict[str, int], direction: str) -> dict[str, set]:
    """For each node reached, the pointers of the edges from the depth before."""
    cited: dict[str, set] = {}
    for e in edges:
        pairs = []
        if direction in ("out", "both"):
            pairs.append((e[4], e[6]))
        if direction in ("in", "both"):
            pairs.append((e[6], e[4]))
        for a, b in pairs:
            if a in depth and b in depth and depth[b] == depth[a] + 1:
                cited.setdefault(b, set()).add(e[0])
    return cited


def call(conn: psycopg.Connection, tenant, sql: str, args: tuple) -> list[tuple]:
    conn.execute("select odl.odl_set_context(%s, %s)", tenant)
    rows = conn.execute(sql, args).fetchall()
    conn.commit()
    return rows


def walk_rows(conn, tenant, function: str, doc_id: str, node: str, kinds=ELECTRICAL) -> dict[str, tuple]:
    rows = call(conn, tenant, f"select node_id, depth, direction, edge_pointers, node_pointers, labels"
                              f" from odl.{function}(%s, %s, %s)", (doc_id, node, list(kinds) if kinds else None))
    assert len({r[0] for r in rows}) == len(rows), "each node once"
    return {r[0]: r[1:] for r in rows}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_upstream_and_downstream_equal_a_breadth_first_search(dbname, plants, plant):
    tenant, _, stored = plants
    doc_id, doc = stored[plant]
    nodes: dict[str, list[str]] = {}
    for n in sorted(graph_of(doc)[0]):
        nodes.setdefault(n[3], []).append(n[0])
    inverters = sorted(i["id"] for i in doc["instances"] if "INV" in i["id"] and "-S" not in i["id"])[:2]
    modules = sorted(i["id"] for i in doc["instances"] if "-M" in i["id"])[:2]
    assert inverters and modules
    with app_session(dbname, tenant) as app:
        # Along every kind the directed graph has cycles (the plant controller
        # commands the inverters and hears from them; coolant goes round).
        for function, direction, starts, kinds in (
            ("odl_graph_upstream", "in", inverters + ["SUB-01"], ELECTRICAL),
            ("odl_graph_downstream", "out", modules, ELECTRICAL),
            ("odl_graph_downstream", "out", ["PPC-01", inverters[0]], None),
            ("odl_graph_upstream", "in", ["PPC-01", modules[0]], None),
        ):
            edges = adjacency(doc, kinds)
            for start in starts:
                depth = bfs(edges, start, direction)
                got = walk_rows(app, tenant, function, doc_id, start, kinds)
                assert {n: r[0] for n, r in got.items()} == {n: d for n, d in depth.items() if n != start}
                cited = cited_edges(edges, depth, direction)
                for node, (_, way, pointers, node_pointers, _) in got.items():
                    assert way == direction
                    assert set(pointers) == cited[node]
                    assert node_pointers == sorted(nodes.get(node, []))
    # Every string and module upstream of an inverter, as an engineer asks.
    with app_session(dbname, tenant) as app:
        upstream = set(walk_rows(app, tenant, "odl_graph_upstream", doc_id, inverters[0]))
    strings = {i["id"] for i in doc["instances"] if i.get("parent_ref") == inverters[0]}
    assert strings and strings <= upstream
    assert {i["id"] for i in doc["instances"] if i.get("parent_ref") in strings} <= upstream


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_path_is_a_shortest_path_of_cited_edges(dbname, plants, plant):
    tenant, _, stored = plants
    doc_id, doc = stored[plant]
    edges = adjacency(doc, None)
    by_pointer = {e[0]: e for e in edges}
    ids = sorted(i["id"] for i in doc["instances"])
    pairs = [(ids[0], ids[-1]), (ids[1], ids[len(ids) // 2]), ("SUB-01", ids[-2])]
    with app_session(dbname, tenant) as app:
        for kinds in (None, list(ELECTRICAL)):
            usable = adjacency(doc, tuple(kinds) if kinds else None)
            for a, b in pairs:
                rows = call(app, tenant, "select node_id, depth, direction, edge_pointers"
                                         " from odl.odl_graph_path(%s, %s, %s, %s)", (doc_id, a, b, kinds))
                depth = bfs(usable, a, "both")
                if b not in depth:
                    assert rows == []
                    continue
                assert [r[1] for r in rows] == list(range(depth[b] + 1))
                assert rows[0][0] == a and rows[-1][0] == b
                for (here, *_), (there, _, way, pointers) in zip(rows, rows[1:]):
                    assert pointers
                    for pointer in pointers:
                        e = by_pointer[pointer]
                        assert {e[4], e[6]} == {here, there}
                        assert kinds is None or e[3] in kinds
                    assert way == ("out" if all(by_pointer[p][4] == here for p in pointers) else
                                   "in" if all(by_pointer[p][6] == here for p in pointers) else "both")
        none = call(app, tenant, "select * from odl.odl_graph_path(%s, %s, %s)", (doc_id, ids[0], "NO-SUCH-NODE"))
        assert none == []


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_components_equal_a_union_find(dbname, plants, plant):
    tenant, _, stored = plants
    doc_id, doc = stored[plant]
    with app_session(dbname, tenant) as app:
        for kinds in (list(ELECTRICAL), ["data_modbus", "data_ethernet"], None):
            edges = adjacency(doc, tuple(kinds) if kinds else None)
            parent: dict[str, str] = {}

            def find(x: str) -> str:
                while parent.setdefault(x, x) != x:
                    parent[x] = parent[parent[x]]
                    x = parent[x]
                return x

            for e in edges:
                parent[find(e[4])] = find(e[6])
            groups: dict[str, set] = {}
            for x in list(parent):
                groups.setdefault(find(x), set()).add(x)
            expected = {node: min(group) for group in groups.values() for node in group}
            rows = call(app, tenant, "select component, node_id, edge_pointers"
                                     " from odl.odl_graph_components(%s, %s)", (doc_id, kinds))
            assert {r[1]: r[0] for r in rows} == expected
            incident = {}
            for e in edges:
                incident.setdefault(e[4], set()).add(e[0])
                incident.setdefault(e[6], set()).add(e[0])
            assert {r[1]: set(r[2]) for r in rows} == incident


def test_neighbours_cite_the_edges_both_ways(dbname, plants):
    tenant, _, stored = plants
    doc_id, doc = stored["spec forms (type, nested)"]
    edges = adjacency(doc, None)
    inverter = "B01-INV01"
    expected: dict[str, set] = {}
    for e in edges:
        if e[4] == inverter:
            expected.setdefault(e[6], set()).add(("out", e[0]))
        if e[6] == inverter:
            expected.setdefault(e[4], set()).add(("in", e[0]))
    with app_session(dbname, tenant) as app:
        rows = call(app, tenant, "select node_id, depth, direction, edge_pointers"
                                 " from odl.odl_graph_neighbours(%s, %s)", (doc_id, inverter))
    assert {r[0] for r in rows} == set(expected)
    for node, depth, way, pointers in rows:
        ways = {w for w, _ in expected[node]}
        assert depth == 1 and set(pointers) == {p for _, p in expected[node]}
        assert way == (ways.pop() if len(ways) == 1 else "both")
    # The PPC both controls the inverter and hears from it.
    assert dict((r[0], r[2]) for r in rows)["PPC-01"] == "both"


def test_the_walks_limits_raise_instead_of_cutting_a_result_short(dbname, plants):
    tenant, _, stored = plants
    doc_id, doc = stored["spec forms (type, nested)"]
    reached = len(bfs(adjacency(doc, ELECTRICAL), "SUB-01", "in")) - 1
    with app_session(dbname, tenant) as app:
        for sql, args, sqlstate in (
            ("select * from odl.odl_graph_upstream(%s, 'SUB-01', max_nodes => %s)", (doc_id, reached - 1), "ODN01"),
            ("select * from odl.odl_graph_upstream(%s, 'SUB-01', max_depth => 2)", (doc_id,), "ODN02"),
            ("select * from odl.odl_graph_path(%s, 'SUB-01', 'B01-INV01-S01-M01', max_depth => 2)", (doc_id,), "ODN02"),
            ("select * from odl.odl_graph_components(%s, null, max_nodes => 10)", (doc_id,), "ODN01"),
            ("select * from odl.odl_graph_components(%s, null, max_depth => 1)", (doc_id,), "ODN02"),
            ("select * from odl.odl_graph_downstream(%s, 'SUB-01', max_depth => 0)", (doc_id,), "22023"),
            ("select * from odl.odl_graph_neighbours(%s, 'SUB-01')", (str(uuid.uuid4()),), "ODD01"),
        ):
            app.execute("select odl.odl_set_context(%s, %s)", tenant)
            with pytest.raises(psycopg.Error) as error:
                app.execute(sql, args)
            assert error.value.sqlstate == sqlstate, sql
            app.rollback()
        # Exactly at the limits the walk answers in full.
        rows = call(app, tenant, "select count(*) from odl.odl_graph_upstream(%s, 'SUB-01', max_nodes => %s)",
                    (doc_id, reached + 1))
        assert rows == [(reached,)]


# --- rights --------------------------------------------------------------------

def pointers_of(rows: list[tuple]) -> set[str]:
    return {p for r in rows for column in r[-2:] for p in column}


def test_a_reader_learns_nothing_of_a_section_they_may_not_read(dbname, plants):
    tenant, access, stored = plants
    doc_id, doc = stored["spec forms (type, nested)"]
    block = "PLANT-01-B01"
    neighbours = "select * from odl.odl_graph_neighbours(%s, %s)"

    everything = call_as(access, access.user_id, neighbours, (doc_id, block))
    assert any(p.startswith("/hierarchy") for p in pointers_of(everything))

    # An engineer holds no R on hierarchy: the block's hierarchy links are
    # gone, its instances' parent links stay.
    engineer = access.create_user("engineer")
    access.assign("engineer", engineer)
    rows = call_as(access, engineer, neighbours, (doc_id, block))
    assert rows and all(p.startswith("/instances/") for p in pointers_of(rows))
    assert {r[0] for r in rows} == {i["id"] for i in doc["instances"] if i.get("parent_ref") == block}
    components = call_as(access, engineer, "select * from odl.odl_graph_components(%s, null)", (doc_id,))
    assert not any(p.startswith("/hierarchy") for p in pointers_of(components))

    # A guest whose permission set is made to hold no R on connections gets
    # no edge from them: nothing upstream, no electrical path, no component.
    guest = access.create_user("guest", mfa_enabled=False)
    access.assign("guest", guest)
    inverter, module = "B01-INV01", "B01-INV01-S01-M01"
    assert call_as(access, guest, "select count(*) from odl.odl_graph_upstream(%s, %s)", (doc_id, inverter)) != [(0,)]
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        def set_connections(rights: str) -> None:
            su.execute("update odl.rbac_set_rights set rights = %s"
                       " where set_id = 'view_public' and section = 'connections'", (rights,))
            su.execute("refresh materialized view odl.rbac_role_rights")

        set_connections("")
        try:
            assert call_as(access, guest, "select * from odl.odl_graph_upstream(%s, %s)", (doc_id, inverter)) == []
            assert call_as(access, guest, "select * from odl.odl_graph_path(%s, %s, %s, %s)",
                           (doc_id, module, inverter, list(ELECTRICAL))) == []
            assert call_as(access, guest, "select * from odl.odl_graph_components(%s)", (doc_id,)) == []
            rows = call_as(access, guest, neighbours, (doc_id, inverter))
            assert rows and not any(p.startswith("/connections") for p in pointers_of(rows))
            assert {r[3][0] for r in rows} == {"contains"}
        finally:
            set_connections("R")
        # A part of connections classified above the guest's clearance hides
        # the whole section from the graph, as a read would hide that part.
        su.execute("insert into odl.rbac_classified_parts values ('/connections/*/attributes', 'restricted')")
        try:
            assert call_as(access, guest, "select * from odl.odl_graph_upstream(%s, %s)", (doc_id, inverter)) == []
            assert call_as(access, access.user_id, "select count(*) from odl.odl_graph_upstream(%s, %s)",
                           (doc_id, inverter)) != [(0,)]
        finally:
            su.execute("delete from odl.rbac_classified_parts where pointer = '/connections/*/attributes'")

    # A financial analyst may read none of the graph's sections.
    analyst = access.create_user("financial_analyst")
    access.assign("financial_analyst", analyst)
    with access.session(analyst) as conn, pytest.raises(psycopg.Error) as error:
        conn.execute(neighbours, (doc_id, block))
    assert error.value.sqlstate == "ODR01"


def call_as(access, user_id: str, sql: str, args: tuple) -> list[tuple]:
    with access.session(user_id) as conn:
        return conn.execute(sql, args).fetchall()


def test_the_graph_is_the_tenants_own(plants, dbname, tenant):
    """Another tenant's user cannot find the document; applications cannot
    read the graph tables; under forced RLS even their owner sees no row
    without a tenant context."""
    _, _, stored = plants
    doc_id, _ = stored["spec forms (type, nested)"]
    with app_session(dbname, tenant) as other:
        with pytest.raises(psycopg.Error) as error:
            other.execute("select * from odl.odl_graph_neighbours(%s, 'SUB-01')", (doc_id,))
        assert error.value.sqlstate == "ODD01"
        other.rollback()
        with pytest.raises(psycopg.Error) as error:
            other.execute("select count(*) from odl.graph_edges")
        assert error.value.sqlstate == "42501"
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        assert su.execute("select count(*) from odl.graph_edges where doc_id = %s", (doc_id,)).fetchone()[0] > 0
        su.execute("set role odl_owner")
        assert su.execute("select count(*) from odl.graph_edges").fetchone() == (0,)
