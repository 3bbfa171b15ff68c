"""Graph projection: what the graph projector adds to a write.

`odl_apply_patch()` with the `graph` projector enabled against the same call
with it disabled (the `instances` projector stays enabled on both sides), in
the same run, on generated documents of 10 KB and 1 MB (fixtures/odlsd.py),
with four kinds of patch:

1. ten operations replacing lifecycle_status and parent_ref of five
   instances: the projector re-projects those five elements of /instances;
2. five operations moving the `to` end of five connections: it re-projects
   those five elements of /connections;
3. appending an instance, a change of `/instances`: it compares the nodes and
   parent links of the whole array with its rows;
4. appending a connection, a change of `/connections`: the same for every
   connection.

After the rounds it times the grounding functions on the 1 MB document
(p50 and p95 of repeated calls, reported in the notes).

The documents, the interleaving and the timing are those of
bench_projection.py, whose classes this benchmark reuses.
"""

from __future__ import annotations

import statistics

from bench_projection import SIZES, Bench, Document
from harness import Context, Section, Stopwatch, compare, one_cpu

TITLE = "Graph projection"

ROUNDS = {"10 KB": 30, "1 MB": 15}
KINDS = {
    "fields": "10-operation patch replacing lifecycle_status and parent_ref of 5 instances",
    "ends": "5-operation patch moving the to end of 5 connections",
    "add": "patch appending an instance (re-projects the whole of /instances)",
    "connect": "patch appending a connection (re-projects the whole of /connections)",
}
TOGGLE = "update odl.document_projectors set enabled = %s where projector = 'graph'"


class GraphDocument(Document):
    """Adds the connection patches."""

    def ends_patch(self) -> list[dict]:
        connections = self.doc["connections"]
        ids = [i["id"] for i in self.doc["instances"]]
        n = self.count
        return [
            {"op": "replace", "path": f"/connections/{(j * len(connections) // 5 + n * 3) % len(connections)}"
                                     "/to/instance_id", "value": ids[(n * 11 + j * 17) % len(ids)]}
            for j in range(5)
        ]

    def connect_patch(self) -> list[dict]:
        ids = [i["id"] for i in self.doc["instances"]]
        n = self.count
        return [{"op": "add", "path": "/connections/-", "value": {
            "id": f"BENCH-CN-{n:05d}", "kind": "data_modbus",
            "from": {"instance_id": ids[n % len(ids)], "port_id": "comms"},
            "to": {"instance_id": ids[(n * 7 + 1) % len(ids)], "port_id": "lan"},
        }}]

    def patch(self, kind: str) -> list[dict]:
        return {"fields": self.fields_patch, "ends": self.ends_patch, "add": self.add_patch,
                "connect": self.connect_patch}[kind]()


class GraphBench(Bench):
    def projector(self, enabled: bool) -> None:
        self.su.execute(TOGGLE, (enabled,))
        self.su.commit()

    def graph_equals_a_rebuild(self, doc: Document) -> bool:
        """The graph after the rounds, against the rows the projection's own
        functions give the stored document."""
        query = """
            select
                (select array_agg(g order by g.pointer) from (
                    select n.pointer, n.section, n.position, n.node_id, n.label
                    from odl.graph_nodes as n where n.doc_id = %(d)s) as g)
                = (select array_agg(g order by g.pointer) from (
                    select r.* from odl.odl_documents as d
                    cross join unnest(array['hierarchy', 'instances']) as s (section)
                    cross join lateral odl.graph_node_rows(d.doc_json, s.section) as r
                    where d.doc_id = %(d)s) as g),
                (select array_agg(g order by g.pointer) from (
                    select e.pointer, e.section, e.position, e.kind, e.from_id, e.from_port, e.to_id, e.to_port,
                        e.connection_id
                    from odl.graph_edges as e where e.doc_id = %(d)s) as g)
                = (select array_agg(g order by g.pointer) from (
                    select r.* from odl.odl_documents as d
                    cross join unnest(array['hierarchy', 'instances', 'connections']) as s (section)
                    cross join lateral odl.graph_edge_rows(d.doc_json, s.section) as r
                    where d.doc_id = %(d)s) as g)
        """
        nodes, edges = self.su.execute(query, {"d": doc.doc_id}).fetchone()
        self.su.rollback()
        return bool(nodes and edges)


QUERY_CALLS = 30


def walk_latencies(bench: GraphBench, doc: GraphDocument) -> list[str]:
    """p50 and p95 of each grounding query on the document, one call per
    transaction (as an application would)."""
    ids = sorted(i["id"] for i in doc.doc["instances"])
    inverter = next(i for i in ids if i.endswith("-INV01"))
    modules = [i for i in ids if "-M" in i]
    queries = {
        "neighbours of an inverter": ("odl_graph_neighbours(%s, %s)", (doc.doc_id, inverter)),
        "upstream of an inverter (its strings and modules)": ("odl_graph_upstream(%s, %s)", (doc.doc_id, inverter)),
        "upstream of the substation (the whole plant)": ("odl_graph_upstream(%s, 'SUB-01')", (doc.doc_id,)),
        "path between the first and the last module": (
            "odl_graph_path(%s, %s, %s)", (doc.doc_id, modules[0], modules[-1])),
        "electrical components": ("odl_graph_components(%s)", (doc.doc_id,)),
    }
    out = []
    cur = bench.app.cursor()
    for label, (call, args) in queries.items():
        times, rows = [], 0
        for _ in range(QUERY_CALLS + 1):
            cur.execute("select odl.odl_set_context(%s, %s)", bench.context, prepare=True)
            with Stopwatch() as sw:
                rows = len(cur.execute(f"select * from odl.{call}", args, prepare=True).fetchall())
                bench.app.commit()
            times.append(sw.seconds * 1e3)
        times = sorted(times[1:])
        p95 = times[max(0, round(0.95 * len(times)) - 1)]
        out.append(f"{label}: {rows:,} rows, p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms")
    return out


def measure(bench: GraphBench, pair: dict[str, GraphDocument], kind: str, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"off": [], "on": []}
    for r in range(rounds + 1):
        for side in (("off", "on") if r % 2 else ("on", "off")):
            doc = pair[side]
            bench.projector(side == "on")
            seconds = doc.write(doc.patch(kind))
            if r:
                out[side].append(seconds)
    bench.projector(True)
    return out


def run(ctx: Context) -> Section:
    with Stopwatch() as sw:
        bench = GraphBench(ctx)
        docs = {label: {side: GraphDocument(bench, label) for side in ("off", "on")} for label in SIZES}
    facts = {"setup": f"{sw.seconds:.1f} s"}
    results = {}
    checks = []
    try:
        with one_cpu(bench.app, bench.su) as pinning:
            for label, pair in docs.items():
                for kind in KINDS:
                    ctx.log(f"{label}, {kind}: {ROUNDS[label]} rounds")
                    results[label, kind] = measure(bench, pair, kind, ROUNDS[label])
                checks.append(f"{label}: {'equal' if bench.graph_equals_a_rebuild(pair['on']) else 'DIFFERENT'}")
            ctx.log(f"grounding queries on the 1 MB document: {QUERY_CALLS} calls each")
            latencies = walk_latencies(bench, docs["1 MB"]["on"])
    finally:
        bench.app.close()
        bench.su.close()

    sizes = {label: (len(pair["on"].doc["instances"]), len(pair["on"].doc["connections"]))
             for label, pair in docs.items()}
    rows = [
        compare(
            f"{label} ({sizes[label][0]:,} instances, {sizes[label][1]:,} connections): {KINDS[kind]}, "
            "graph projector enabled vs disabled",
            "ms/patch", [x * 1e3 for x in t["off"]], [x * 1e3 for x in t["on"]], None, ctx.seed,
        )
        for (label, kind), t in results.items()
    ]
    return Section(
        compared="`odl_apply_patch()` with the `graph` projector enabled against the same call with it "
        "disabled: what keeping `odl.graph_nodes` and `odl.graph_edges` equal to the documents adds to a write.",
        method="\n".join([
            "- Documents, users and timing as in [Instances projection](#instances-projection-info); the "
            "instances projector stays enabled on both sides.",
            "- Per size and kind, rounds after one warm-up round, in the order of the table; each round writes "
            "one patch with the graph projector disabled and one with it enabled, in alternating order. Ratios "
            "are medians of the per-round ratios, with a 95% bootstrap interval.",
            f"- {pinning} (see harness.one_cpu).",
        ]),
        rows=rows,
        notes="After the rounds, the graph equals the one its projection functions give the stored document: "
        + "; ".join(checks) + ".\n\nGrounding queries on the 1 MB document after the rounds (the caller holds "
        + f"super_user; {QUERY_CALLS} calls each, one per transaction, after one warm-up call):\n\n"
        + "\n".join(f"- {line}" for line in latencies),
        facts=facts,
        baseline_name="disabled",
        candidate_name="enabled",
    )
