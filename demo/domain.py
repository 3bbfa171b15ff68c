"""The demo's domain stories: what odl-db keeps beside the documents, used by
the application through the Python client. demo/app.py runs them:

    app.py graph          the spec document's graph: neighbours, upstream, a path, components
    app.py ai             an AI session's context within a token budget; a CAG entry, a hit,
                          a patch of what it depends on, and the miss
    app.py monetisation   the plan, the PSU balance, a charge, a reservation settled,
                          tool-call spans, an over-budget charge refused, the analysts' cost views
    app.py search         the embedding worker, a question in words, the pointers that answer
                          it, and the graph walked from the answer

Each reads what it needs from the current state, so it runs again on the
same data (scripts/demo runs twice on one cluster). The client has methods
for the document core only; the domain's odl_* functions are called on the
session's connection, with the client's error translation, as an application
without a wrapper would call them.
"""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app import APP_DSN, Names, refused, say, table
from odl_client import AiError, MonetisationError, OdlConnection, OdlSession
from odl_client.embed import ask_and_walk, run_worker, wordllama_embedder
from odl_client.errors import translated

ANALYST_DSN = "options='-c role=odl_analyst'"
POWER = ["dc_power", "ac_power"]
CONTROL = ["control_analog", "control_digital", "data_ethernet", "data_modbus"]


def rows(odl: OdlSession, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """An odl_* call the client has no method for, on the session's connection."""
    with translated(), odl.connection.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def one(odl: OdlSession, query: str, params: Sequence[Any] = ()) -> dict[str, Any]:
    (row,) = rows(odl, query, params)
    return row


def inverter_of(odl: OdlSession, doc_id: str) -> tuple[int, dict[str, Any]]:
    """The document's first inverter instance and its position in /instances."""
    instances = odl.get_document(doc_id).document["instances"]
    return next((n, i) for n, i in enumerate(instances) if "inverter" in str(i.get("type_ref", "")))


def spec_doc_of(names: Names) -> tuple[str, str, str]:
    helios, sunfield = names.tenant("Helios Solar"), names.project("Sunfield PV 50 MW")
    spec_doc = names.spec_doc(sunfield)
    assert helios and sunfield and spec_doc, "app.py load and app.py spec come first"
    return helios, sunfield, spec_doc


HIT = ["node_id", "depth", "direction", "kinds", "labels", "node_pointers", "edge_pointers"]


def arr(value: Any) -> Any:
    """A text array as psql prints it."""
    return "{" + ",".join(value) + "}" if isinstance(value, list) else value


def hits(found: list[dict[str, Any]]) -> list[list[Any]]:
    return [[arr(h[c]) for c in HIT] for h in found]


# -- the graph ---------------------------------------------------------------------

def graph(names: Names) -> None:
    helios, _, spec_doc = spec_doc_of(names)
    ben, ana = names.user("ben@helios.example"), names.user("ana@helios.example")
    say()
    say("== The graph of the spec document: the hierarchy, the instances and their connections as nodes and")
    say("   edges, kept by a projector of every patch. Every answer cites the JSON pointers it stands on:")
    say("   node_pointers where a node is defined, edge_pointers the edges that reached it.")
    with OdlConnection.connect(APP_DSN) as app, app.transaction(helios, ben) as odl:
        at, inverter = inverter_of(odl, spec_doc)
        name = inverter["id"]
        say(f"-- ben (project manager, reads every section): the neighbours of inverter {name} (/instances/{at}),")
        say("   one edge away either way, of any kind")
        table(HIT, hits(rows(odl, "select * from odl.odl_graph_neighbours(%s, %s)", (spec_doc, name))))

        say(f"-- everything upstream of {name} along dc_power and ac_power connections, by depth")
        upstream = rows(odl, "select * from odl.odl_graph_upstream(%s, %s, %s)", (spec_doc, name, POWER))
        by_depth: dict[int, list[dict[str, Any]]] = {}
        for hit in upstream:
            by_depth.setdefault(hit["depth"], []).append(hit)
        table(["depth", "nodes", "labels", "first", "its node_pointers", "its edge_pointers"],
              [(depth, len(found), arr(sorted({label for h in found for label in h["labels"]})),
                found[0]["node_id"], arr(found[0]["node_pointers"]), arr(found[0]["edge_pointers"]))
               for depth, found in sorted(by_depth.items())])

        say(f"-- and downstream of {name}: where its power goes")
        downstream = rows(odl, "select * from odl.odl_graph_downstream(%s, %s, %s)", (spec_doc, name, POWER))
        table(HIT, hits(downstream))

        start, end = upstream[-1]["node_id"], downstream[-1]["node_id"]
        say(f"-- a shortest path from module {start} to {end} over power connections, each step citing")
        say("   the connection it takes")
        table(HIT, hits(rows(odl, "select * from odl.odl_graph_path(%s, %s, %s, %s)", (spec_doc, start, end, POWER))))

        say("-- connected components: the power network and the control and data network, each named by")
        say("   its smallest node id")
        components = []
        for network, kinds in (("power", POWER), ("control and data", CONTROL)):
            members: dict[str, list[dict[str, Any]]] = {}
            for row in rows(odl, "select * from odl.odl_graph_components(%s, %s)", (spec_doc, kinds)):
                members.setdefault(row["component"], []).append(row)
            for component, found in sorted(members.items()):
                edges = sorted({p for r in found for p in r["edge_pointers"]}, key=lambda p: int(p.split("/")[-1]))
                cited = ", ".join(edges[:4]) + (", ..." if len(edges) > 4 else "")
                components.append((network, component, len(found), len(edges), cited))
        table(["network", "component", "nodes", "connections", "cited"], components)

    with OdlConnection.connect(APP_DSN) as app, app.transaction(helios, ana) as odl:
        say(f"-- ana (engineer: no R on hierarchy) asks for the same neighbours: the block {name} hangs under is")
        say("   reached by the instance's own parent_ref, but its label and pointers, in the hierarchy, stay hidden")
        table(HIT, hits(rows(odl, "select * from odl.odl_graph_neighbours(%s, %s, %s)",
                             (spec_doc, name, ["contains"]))))


# -- embeddings and Graph-RAG -----------------------------------------------------------

QUESTION = "where is inverter instance B01-INV01?"


def search(names: Names) -> None:
    helios, sunfield, _ = spec_doc_of(names)
    ben = names.user("ben@helios.example")
    say()
    say("== Embeddings and Graph-RAG: the documents cut into chunks at their pointers, embedded by a")
    say("   worker outside every write with the default model (wordllama, 256 dimensions, on this CPU).")
    say("-- the worker, once, as ben: it cuts what writes touched since, then embeds every stale chunk")
    stored = run_worker(APP_DSN, helios, ben, batch=500, once=True, idle=0, out=sys.stdout)
    say(f"   {stored} vectors stored this run (none when nothing changed since the last)")
    embed = wordllama_embedder()
    with psycopg.connect(APP_DSN) as conn:
        conn.execute("select odl.odl_set_context(%s, %s)", (helios, ben))
        answer = ask_and_walk(conn, embed, QUESTION, sunfield, k=5)
    say(f"-- ben asks, in words: {QUESTION!r}. The chunks that answer it, each cited by its pointer:")
    table(["doc_id", "pointer", "score"], answer["cited"])
    if answer["instance"] is None:
        say("   (no instance among them: nothing to walk)")
        return
    doc_id, pointer, node = answer["instance"]
    neighbours = answer["neighbours"]
    say(f"-- the first instance among them, {node} ({pointer}), and the graph around it: its neighbours")
    say(f"   ({len(neighbours)}; the first 8)")
    table(["node_id", "direction", "kinds", "edge_pointers"], [[r[0], r[1], arr(r[2]), arr(r[3])]
                                                              for r in neighbours[:8]])
    say(f"-- and what feeds {node}, nearest first (the first rows)")
    table(["node_id", "depth", "node_pointers"], [[r[0], r[1], arr(r[2])] for r in answer["upstream"][:8]])


# -- AI sessions and the CAG store -------------------------------------------------------

TOOL = "plant_assistant@1.0.0"
MODEL = "demo-model-1"


def ai(names: Names) -> None:
    helios, sunfield, spec_doc = spec_doc_of(names)
    ana, eve = names.user("ana@helios.example"), names.user("eve@helios.example")
    say()
    say("== AI sessions: what an assistant remembers, under the same rights as a read. Token counts are")
    say("   the application's (its model's tokenizer); the database sums them.")
    with OdlConnection.connect(APP_DSN) as app:
        with app.transaction(helios, ana) as odl:
            at, inverter = inverter_of(odl, spec_doc)
            name = inverter["id"]
            session = one(odl, "select odl.odl_ai_open_session(%s, %s, %s, %s) as id",
                          (sunfield, "You are the Sunfield plant assistant. Cite JSON pointers.", 40,
                           f"what feeds {name}"))["id"]
            upstream = rows(odl, "select node_id, edge_pointers from odl.odl_graph_upstream(%s, %s) where depth = 1",
                            (spec_doc, name))
            call = {"id": "call_1", "type": "function",
                    "function": {"name": "graph_upstream", "arguments": f'{{"node_id": "{name}"}}'}}
            messages = [
                ("user", f"What feeds inverter {name}?", 9, None, None),
                ("assistant", "", 25, [call], None),
                ("tool", _json({h["node_id"]: h["edge_pointers"] for h in upstream}), 180, None, "call_1"),
                ("assistant", f"{len(upstream)} strings feed {name}: "
                 + ", ".join(f"{h['node_id']} ({h['edge_pointers'][0]})" for h in upstream), 45, None, None),
                ("user", "Is it in service?", 7, None, None),
            ]
            seqs = [one(odl, "select odl.odl_ai_append_message(%s, %s, %s, %s, %s, %s) as seq",
                        (session, role, content, tokens, None if tool_calls is None else _json(tool_calls),
                         tool_call_id))["seq"]
                    for role, content, tokens, tool_calls, tool_call_id in messages]
            say("-- ana opens a session on Sunfield PV 50 MW; an agent loop called a tool; she asks a follow-up")
            stored = rows(odl, "select * from odl.odl_ai_messages(%s)", (session,))
            table(["seq", "role", "tokens", "tool_call_id", "content"],
                  [(m["seq"], m["role"], m["tokens"], m["tool_call_id"], _content(m)) for m in stored])

            def context(budget: int) -> None:
                sent = rows(odl, "select * from odl.odl_ai_context(%s, %s)", (session, budget))
                table(["seq", "role", "tokens", "is_summary", "content"],
                      [(m["seq"], m["role"], m["tokens"], m["is_summary"], _content(m)) for m in sent])
                total = sum(m["tokens"] for m in sent)
                say(f"   {total} tokens sent, budget {budget}: {'holds' if total <= budget else 'BROKEN'}")
                say()
                if total > budget:
                    raise SystemExit("demo: odl_ai_context() went over the budget")

            say("-- odl_ai_context(session, 120): the system message and the current turn always; before them")
            say("   whole units, newest first, while they fit. The tool call goes with its result or not at all")
            context(120)
            say(f"-- the application stores its summary of messages {seqs[0]} to {seqs[-2]}; with the same budget,")
            say("   the summary replaces everything it covers")
            rows(odl, "select odl.odl_ai_store_summary(%s, %s, %s, %s)",
                 (session, seqs[-2], f"ana asked what feeds {name}; the graph answered {len(upstream)} strings.", 20))
            context(120)
            say("-- a budget smaller than the system message and the current turn is refused, never cut short:")
            with refused(app, AiError):
                rows(odl, "select * from odl.odl_ai_context(%s, %s)", (session, 30))

        say("== The CAG store: a response kept with the JSON pointers it was made from; a patch of any of them")
        say("   invalidates it in the patch's own transaction.")
        pointer = f"/instances/{at}"
        prompt, inputs = f"Is inverter {name} in service?", _json({"doc_id": spec_doc, "node_id": name})
        with app.transaction(helios, ana) as odl:
            head = odl.head(spec_doc)
            status = odl.get_document(spec_doc).document["instances"][at]["lifecycle_status"]
            key = one(odl, "select odl.odl_cag_put(%s, 'prompt_response', %s, %s, %s, %s, %s, %s) as key",
                      (sunfield, TOOL, MODEL, prompt, inputs, f"{name} is {status} (see {pointer}/lifecycle_status).",
                       _json([{"doc_id": spec_doc, "pointer": pointer, "version": head.version}])))["key"]
            say(f"-- ana's assistant answers \"{prompt}\" from version {head.version}, depending on {pointer};")
            say("   odl_cag_put() keys it by tenant, project, kind, tool, model, her policy fingerprint, prompt and")
            say("   inputs")
            say(f"   key {key}")
            say("-- the same question again: odl_cag_get() hits")
            cag_get(odl, sunfield, prompt, inputs)
        new_status = "operational" if status == "commissioned" else "commissioned"
        with app.transaction(helios, eve) as odl:
            say(f"-- eve (expert) patches {pointer}/lifecycle_status to {new_status}, through the client")
            version = odl.head(spec_doc).version
            result = odl.apply_patch(spec_doc, [{"op": "replace", "path": f"{pointer}/lifecycle_status",
                                                 "value": new_status}], version, intent=f"{name} {new_status}")
            table(["version", "outcome"], [(result.version, result.outcome)])
        with app.transaction(helios, ana) as odl:
            say("-- ana's assistant asks again: a miss, and why; the application asks the model afresh")
            cag_get(odl, sunfield, prompt, inputs)


def cag_get(odl: OdlSession, project: str, prompt: str, inputs: str) -> None:
    found = one(odl, "select * from odl.odl_cag_get(%s, 'prompt_response', %s, %s, %s, %s)",
                (project, TOOL, MODEL, prompt, inputs))
    table(["hit", "response", "miss_reason"], [(found["hit"], found["response"], found["miss_reason"])])


def _json(value: Any) -> str:
    return json.dumps(value)


def _content(message: dict[str, Any], width: int = 60) -> str:
    text = message["content"] or " ".join(
        f"(calls {c['function']['name']}, id {c['id']})" for c in message["tool_calls"] or [])
    return text if len(text) <= width else text[:width - 3] + "..."


# -- monetisation ---------------------------------------------------------------------------

SEATS = 3
NEEDED = 20  # PSU this story spends at most


def monetisation(names: Names) -> None:
    helios, sunfield, _ = spec_doc_of(names)
    ada, ana, dara = (names.user(f"{n}@helios.example") for n in ("ada", "ana", "dara"))
    say()
    say("== Monetisation: the tenant's plan and its PSU (platform service units), charged exactly once.")
    with OdlConnection.connect(APP_DSN) as app:
        with app.transaction(helios, ada) as odl:
            if live_plan(names, helios) is None:
                say(f"-- ada, the tenant's administrator, subscribes Helios Solar to PRO for {SEATS} seats (once):")
                say("   PRO includes 100 PSU per seat this month")
                rows(odl, "select odl.odl_subscribe('PRO', %s)", (SEATS,))
            tenant = [b for b in balance(odl) if b["scope"] == "tenant"]
            if not tenant:
                say("-- a new month: ada grants this month's PSU")
                rows(odl, "select odl.odl_psu_grant(%s)", (100 * SEATS,))
            elif tenant[0]["remaining"] < NEEDED:
                say("-- the budget runs low: ada tops it up by 100 PSU")
                rows(odl, "select odl.odl_psu_grant(%s)", (tenant[0]["granted"] + 100,))
        say("-- the plan (as the DBA reads odl.subscriptions: the API has no reader of it yet)")
        table(["plan_code", "name", "status", "seats", "billing_cycle", "price", "psu_per_seat"],
              [live_plan(names, helios)])

        with app.transaction(helios, ana) as odl:
            say("-- ana's balance (odl_psu_balance): granted = consumed + reserved + remaining")
            show_balance(odl)

            key = f"demo-charge-{uuid.uuid4()}"
            say(f"-- ana runs a yield simulation on Sunfield PV 50 MW: a 5 PSU charge, key {key};")
            say("   her client retries after a timeout with the same key, and is answered the original")
            charge = "select * from odl.odl_psu_charge(5, %s, 'yield_simulation@2.1.0', %s)"
            first = one(odl, charge, (key, sunfield))
            again = one(odl, charge, (key, sunfield))
            table(["entry_id", "kind", "amount", "tenant_remaining", "replayed"],
                  [(r["entry_id"], r["kind"], r["amount"], r["tenant_remaining"], r["replayed"])
                   for r in (first, again)])

            say("-- a layout optimisation reserves 8 PSU at plan time and consumes 6 when done: 2 go back")
            held = one(odl, "select * from odl.odl_psu_reserve(8, %s, interval '15 minutes', "
                       "'layout_optimiser@0.9.0', %s)", (f"demo-reserve-{uuid.uuid4()}", sunfield))
            settled = one(odl, "select * from odl.odl_psu_settle(%s, 6)", (held["reservation_id"],))
            table(["kind", "amount", "reservation_id", "tenant_remaining", "expires_at"],
                  [(r["kind"], r["amount"], r["reservation_id"], r["tenant_remaining"],
                    r["expires_at"] and f"{r['expires_at']:%H:%M:%S}") for r in (held, settled)])

            say("-- the assistant's model calls, as OpenTelemetry GenAI spans: the first costs 2 PSU, charged once")
            say("   by the span's id; the second was a CAG hit and costs nothing")
            now = datetime.now(timezone.utc)
            trace = secrets.token_hex(16)
            spans = ((900, 480, 2, False, 312, 45), (300, 285, 0, True, 0, 0))  # ms ago, PSU, hit, tokens
            for began, ended, psu, hit, tokens_in, tokens_out in spans:
                rows(odl, "select odl.odl_record_tool_call(%s, %s, %s, %s, %s, psu => %s, input_tokens => %s,"
                     " output_tokens => %s, model => %s, provider => 'demo', project_id => %s, cache_hit => %s)",
                     (trace, secrets.token_hex(8), TOOL, now - timedelta(milliseconds=began),
                      now - timedelta(milliseconds=ended), psu, tokens_in, tokens_out, MODEL, sunfield, hit))
            show_balance(odl)

        say("-- over the hard limit nothing is written (rolled back: the budget is left as it was). ada sets")
        say("   the budget to 3 PSU above what is in use; ana's 5 PSU charge is refused before any write")
        with app.connection.transaction(force_rollback=True):
            odl = app.act_as(helios, ada)
            tenant = next(b for b in balance(odl) if b["scope"] == "tenant")
            rows(odl, "select odl.odl_psu_grant(%s)", (tenant["consumed"] + tenant["reserved"] + 3,))
            odl = app.act_as(helios, ana)
            with refused(app, MonetisationError):
                rows(odl, "select * from odl.odl_psu_charge(5, %s)", (f"demo-charge-{uuid.uuid4()}",))

    say("-- the analysts' side: dara (data analyst) reads the cost views as odl_analyst, today's rows;")
    say("   a user's e-mail shows only to that user and to the tenant's administrator")
    with OdlConnection.connect(ANALYST_DSN) as analyst, analyst.transaction(helios, dara) as odl:
        table(["tool", "user_email", "calls", "cache_hits", "latency_p50_ms", "input_tokens", "output_tokens", "psu"],
              [(r["tool"], r["user_email"], r["calls"], r["cache_hits"], round(r["latency_p50_ms"]),
                r["input_tokens"], r["output_tokens"], r["psu"])
               for r in rows(odl, "select * from odl.analyst_tool_costs"
                                  " where day = (now() at time zone 'UTC')::date order by tool, user_email")])
        table(["tool", "user_email", "charges", "psu_consumed", "psu_reserved"],
              [(r["tool"], r["user_email"], r["charges"], r["psu_consumed"], r["psu_reserved"])
               for r in rows(odl, "select tool, user_email, sum(charges) as charges, sum(psu_consumed) as psu_consumed,"
                                  " sum(psu_reserved) as psu_reserved from odl.analyst_psu_usage"
                                  " where day = (now() at time zone 'UTC')::date group by 1, 2 order by 1, 2")])


def live_plan(names: Names, tenant: str) -> tuple[Any, ...] | None:
    row = names.db.execute(
        "select s.plan_code, p.name, s.status, s.seats, s.billing_cycle,"
        " format('%%s %%s / %%s', p.price_minor / 100, p.currency, p.priced_per), p.psu_included_per_seat"
        " from odl.subscriptions as s inner join odl.plans as p on s.plan_code = p.plan_code"
        " where s.tenant_id = %s and s.status <> 'canceled'", (tenant,)).fetchone()
    return None if row is None else tuple(row)


def balance(odl: OdlSession) -> list[dict[str, Any]]:
    return rows(odl, "select * from odl.odl_psu_balance()")


def show_balance(odl: OdlSession) -> None:
    table(["scope", "period_start", "granted", "consumed", "reserved", "remaining"],
          [(b["scope"], f"{b['period_start']:%Y-%m-%d}", b["granted"], b["consumed"], b["reserved"], b["remaining"])
           for b in balance(odl)])
