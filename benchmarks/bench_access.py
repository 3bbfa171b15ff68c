"""Access checks: what rights, phase gates and redaction add to a write and
a read of a document.

One tenant with a hierarchy of 283 nodes (PORTFOLIO > SITE > PLANT > BLOCK >
ARRAY > STRING), 200 other users holding 1,000 assignments across it, and a
project attached at a STRING, five levels below the PORTFOLIO where the
acting users hold their roles. Two comparisons, each against a baseline
measured in the same run, interleaved:

1. Write: a ten-operation patch to a 1 MB document (fixtures/odlsd.py) by an
   engineer through odl_apply_patch() (rights by inheritance, phase gate,
   approval sections, then the writer), against the same patch through
   odl.write_patch(), the writer odl_apply_patch() calls once it has
   authorized the patch, under the same odl_set_context() and as the role
   both run as (odl_owner). Goal: the checks add at most 10%. The same at
   10 KB, for information.
2. Read: odl_get_document() by a guest and by an engineer (sections and
   classified parts removed) against a plain read of the stored document.

Both run first with the statistics a running database has (autovacuum
analyzes the tables that received enough rows, odl.rbac_role_rights among
them, never the policy's small tables), then again after `analyze` of every
table: the statistics decide whether the checks are JIT-compiled.
"""

from __future__ import annotations

import datetime
import json
import random
import statistics
import sys
import time
from pathlib import Path

from psycopg.types.json import Jsonb

from harness import Context, Row, Section, Stopwatch, compare, one_cpu

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "fixtures"))

import odlsd  # noqa: E402

TITLE = "Access checks"

GOAL = 1.10                 # checked / unchecked write, at 1 MB
SIZES = {"10 KB": 10_000, "1 MB": 1_000_000}
SEED = 11
ROUNDS = {"10 KB": 150, "1 MB": 40}   # write rounds per size, after WARMUP
READ_ROUNDS = 60                      # read rounds, 1 MB, after WARMUP
WARMUP = 3
SERVER_REPEATS = 200                  # calls per server-side timing of the checks alone

# The hierarchy: FANOUT[i] children under each node of level i; the first
# child of each level is on the path to the project.
LEVELS = ("PORTFOLIO", "SITE", "PLANT", "BLOCK", "ARRAY", "STRING")
FANOUT = (3, 3, 3, 3, 2)
OTHER_USERS = 200
ASSIGNMENTS_PER_OTHER = 5
ASSIGNMENTS = OTHER_USERS * ASSIGNMENTS_PER_OTHER + 4
OTHER_ROLES = (
    "guest", "client", "consultant", "project_manager", "engineer", "technician_operator", "expert",
    "data_analyst", "esg_officer", "financial_analyst", "compliance_officer", "auditor_legal",
)

STATUSES = ("planned", "procured", "installed", "commissioned", "operational", "maintenance", "decommissioned")
KINDS = (
    "dc_power", "ac_power", "data_modbus", "data_can", "data_ethernet",
    "control_digital", "control_analog", "thermal_liquid", "thermal_air",
)
EPOCH = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)

SET_CONTEXT = "select odl.odl_set_context(%s, %s)"
CHECKED = "select version, outcome from odl.odl_apply_patch(%s, %s, %s)"
UNCHECKED = "select version from odl.write_patch(%s, %s, %s, null, '{}', null, false, 100)"
READ_REDACTED = "select document::text, redacted from odl.odl_get_document(%s)"
READ_PLAIN = "select doc_json::text from odl.odl_documents where doc_id = %s"

# The checks alone, inside the server: what odl_apply_patch() adds before
# the writer (authorize_write) and what odl_get_document() adds to a read
# (the R check and redact), each repeated and timed in one call.
SERVER_TIMINGS = """
create function pg_temp.bench_authorize(project text, patch jsonb, repeats integer)
returns double precision
language plpgsql
as $$
declare
    started timestamptz := clock_timestamp();
begin
    for i in 1..repeats loop
        if odl.authorize_write(project, odl.patch_pointers(patch), 'write') is not null then
            raise exception 'bench: the patch would become a change request';
        end if;
    end loop;
    return extract(epoch from clock_timestamp() - started) / repeats;
end
$$;

create function pg_temp.bench_redact(doc text, repeats integer, out redact double precision, out plain double precision)
language plpgsql
as $$
declare
    node text := (
        select (odl.scope_of(d.project_id)).node_id from odl.odl_documents as d where d.doc_id = bench_redact.doc
    );
    user_id text := (select c.user_id from odl.current_context as c);
    started timestamptz;
    content jsonb;
begin
    started := clock_timestamp();
    for i in 1..repeats loop
        perform from odl.user_rights(user_id, node) as r where strpos(r.rights, 'R') > 0;
        content := (select r.document from odl.redact(odl.document_at(doc, null), node) as r);
        perform length(content::text);
    end loop;
    redact := extract(epoch from clock_timestamp() - started) / repeats;
    started := clock_timestamp();
    for i in 1..repeats loop
        content := (select d.doc_json from odl.odl_documents as d where d.doc_id = doc);
        perform length(content::text);
    end loop;
    plain := extract(epoch from clock_timestamp() - started) / repeats;
end
$$;
"""


class Patches:
    """Ten-operation patches that an engineer may apply directly: test
    /schema_version, replace the lifecycle_status of five instances spread
    over the document and the kind of three connections, add
    /meta/timestamps/updated_at. Sections meta, instances, connections:
    W for an engineer, none needs approval. Values come from a counter, so
    no version repeats an earlier one (the server caches validation results
    by content hash) and the document keeps its size."""

    def __init__(self, doc: dict):
        self.instances = len(doc["instances"])
        self.connections = len(doc["connections"])
        self.count = 0

    def next(self) -> list[dict]:
        n = self.count
        self.count += 1
        stamp = (EPOCH + datetime.timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch: list[dict] = [{"op": "test", "path": "/schema_version", "value": "4.1"}]
        for j in range(5):
            index = (j * self.instances // 5 + n * 7) % self.instances
            patch.append({"op": "replace", "path": f"/instances/{index}/lifecycle_status",
                          "value": STATUSES[(n + j) % len(STATUSES)]})
        for j in range(3):
            index = (j * self.connections // 3 + n * 13) % self.connections
            patch.append({"op": "replace", "path": f"/connections/{index}/kind",
                          "value": KINDS[(n + j) % len(KINDS)]})
        patch.append({"op": "add", "path": "/meta/timestamps/updated_at", "value": stamp})
        return patch


class Bench:
    """The tenant, its hierarchy and users, the project and the two
    connections of one run: app (odl_app, through the API) and owner (the
    superuser's session as odl_owner, the role the API functions run as)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.rng = random.Random(ctx.seed)
        with ctx.connect(autocommit=True) as admin:
            admin.execute("set role odl_admin")
            self.tenant = admin.execute("select odl.odl_create_tenant('access bench', 'EU')").fetchone()[0]

            def user(email: str, role: str) -> str:
                return admin.execute(
                    "select odl.odl_create_user(%s, %s, %s)", (self.tenant, email, role)
                ).fetchone()[0]

            self.admin = user("admin@access.bench", "super_user")
            self.engineer = user("engineer@access.bench", "engineer")
            self.guest = user("guest@access.bench", "guest")
            self.others = [user(f"user{i}@access.bench", "engineer") for i in range(OTHER_USERS)]

        self.app = ctx.connect(user="odl_app")
        self.owner = ctx.connect(user="postgres")
        self.owner.execute("set role odl_owner")
        self.owner.commit()
        with Stopwatch() as sw:
            self._hierarchy()
        self.setup_seconds = sw.seconds
        self.docs = {label: odlsd.generate(size, SEED) for label, size in SIZES.items()}
        self.doc_ids = {}
        self._as(self.admin)
        for label, doc in self.docs.items():
            self.doc_ids[label] = self.app.execute(
                "select odl.odl_create_document(%s, %s)", (self.project, Jsonb(doc))
            ).fetchone()[0]
        self.app.commit()
        self.versions = {label: 1 for label in SIZES}
        self.patches = {label: Patches(doc) for label, doc in self.docs.items()}

    def _as(self, user_id: str) -> None:
        self.app.execute(SET_CONTEXT, (self.tenant, user_id))

    def _hierarchy(self) -> None:
        """Nodes, the project at the first STRING, and the assignments, all
        through the API as the tenant's administrator."""
        app = self.app
        self._as(self.admin)
        portfolio = app.execute("select odl.odl_create_node(null, 'PORTFOLIO', 'Portfolio')").fetchone()[0]
        self.path = [portfolio]
        nodes = [portfolio]
        level_nodes = [portfolio]
        for depth, fanout in enumerate(FANOUT, start=1):
            below = []
            for parent in level_nodes:
                for k in range(fanout):
                    node = app.execute(
                        "select odl.odl_create_node(%s, %s, %s)", (parent, LEVELS[depth], f"{LEVELS[depth]} {k + 1}")
                    ).fetchone()[0]
                    below.append(node)
                    if parent == self.path[-1] and k == 0:
                        self.path.append(node)
            level_nodes = below
            nodes += below
        self.nodes = nodes
        self.project = app.execute("select odl.odl_create_project('access bench')").fetchone()[0]
        app.execute("select odl.odl_attach_project(%s, %s)", (self.project, self.path[-1]))
        assign = "select odl.odl_assign_role(%s, %s, %s)"
        # The administrator creates the documents (W on every section).
        app.execute(assign, (self.admin, portfolio, "super_user"))
        app.execute(assign, (self.engineer, portfolio, "engineer"))
        app.execute(assign, (self.guest, portfolio, "guest"))
        # An expired assignment on the path, which the lookup must skip.
        app.execute(
            "select odl.odl_assign_role(%s, %s, 'expert', now() - interval '2 days', now() - interval '1 day')",
            (self.engineer, self.path[2]),
        )
        for other in self.others:
            for _ in range(ASSIGNMENTS_PER_OTHER):
                app.execute(assign, (other, self.rng.choice(nodes), self.rng.choice(OTHER_ROLES)))
        app.commit()
        # What autovacuum does soon after the deploy and this setup: each of
        # these received more rows than its threshold (50 + 10%). The policy's
        # other tables hold a few rows each and are never analyzed.
        self.owner.execute("analyze odl.nodes, odl.rbac_assignments, odl.projects, odl.rbac_role_rights")
        self.owner.commit()

    def close(self) -> None:
        self.app.close()
        self.owner.close()

    # --- item 1: writes -----------------------------------------------------------

    def checked(self, label: str, patch: Jsonb) -> float:
        """The engineer's patch through odl_apply_patch(): statement and commit."""
        cur = self.app.cursor()
        cur.execute(SET_CONTEXT, (self.tenant, self.engineer), prepare=True)
        started = time.perf_counter()
        cur.execute(CHECKED, (self.doc_ids[label], patch, self.versions[label]), prepare=True)
        version, outcome = cur.fetchone()
        self.app.commit()
        seconds = time.perf_counter() - started
        self._advance(label, version, outcome)
        return seconds

    def unchecked(self, label: str, patch: Jsonb) -> float:
        """The same patch through the writer alone, as odl_owner under the
        same context: statement and commit."""
        cur = self.owner.cursor()
        cur.execute(SET_CONTEXT, (self.tenant, self.engineer), prepare=True)
        started = time.perf_counter()
        cur.execute(UNCHECKED, (self.doc_ids[label], patch, self.versions[label]), prepare=True)
        (version,) = cur.fetchone()
        self.owner.commit()
        seconds = time.perf_counter() - started
        self._advance(label, version, "applied")
        return seconds

    def _advance(self, label: str, version: int, outcome: str) -> None:
        if outcome != "applied" or version != self.versions[label] + 1:
            raise RuntimeError(f"{label}: outcome {outcome}, version {version} after {self.versions[label]}")
        self.versions[label] = version

    def writes(self, label: str) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {"checked": [], "unchecked": []}
        for round_no in range(WARMUP + ROUNDS[label]):
            order = ["checked", "unchecked"]
            self.rng.shuffle(order)
            for side in order:
                # Each side gets the next patch of the one sequence: both
                # write the same document, one version after the other.
                patch = Jsonb(self.patches[label].next())
                seconds = getattr(self, side)(label, patch)
                if round_no >= WARMUP:
                    times[side].append(seconds)
        return times

    # --- item 2: reads ------------------------------------------------------------

    def redacted_read(self, user_id: str) -> tuple[float, str, list[str]]:
        cur = self.app.cursor()
        cur.execute(SET_CONTEXT, (self.tenant, user_id), prepare=True)
        started = time.perf_counter()
        cur.execute(READ_REDACTED, (self.doc_ids["1 MB"],), prepare=True)
        text, redacted = cur.fetchone()
        self.app.commit()
        return time.perf_counter() - started, text, redacted

    def plain_read(self) -> tuple[float, str]:
        cur = self.owner.cursor()
        cur.execute(SET_CONTEXT, (self.tenant, self.guest), prepare=True)
        started = time.perf_counter()
        cur.execute(READ_PLAIN, (self.doc_ids["1 MB"],), prepare=True)
        (text,) = cur.fetchone()
        self.owner.commit()
        return time.perf_counter() - started, text

    def reads(self) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
        readers = {"guest": self.guest, "engineer": self.engineer}
        times: dict[str, list[float]] = {"plain": [], "guest": [], "engineer": []}
        removed: dict[str, list[str]] = {}
        for round_no in range(WARMUP + READ_ROUNDS):
            order = list(times)
            self.rng.shuffle(order)
            texts: dict[str, str] = {}
            for side in order:
                if side == "plain":
                    seconds, texts[side] = self.plain_read()
                else:
                    seconds, texts[side], removed[side] = self.redacted_read(readers[side])
                if round_no >= WARMUP:
                    times[side].append(seconds)
            if round_no == 0:
                full = json.loads(texts["plain"])
                for reader in readers:
                    self._check_redaction(reader, full, json.loads(texts[reader]), removed[reader])
        return times, removed

    @staticmethod
    def _check_redaction(reader: str, full: dict, shown: dict, redacted: list[str]) -> None:
        """What a reader gets is the stored document without the sections
        redacted lists; only sections holding classified parts differ."""
        sections = {pointer[1:] for pointer in redacted if pointer.count("/") == 1}
        if not sections:
            raise RuntimeError(f"the {reader}'s read removed no section: {redacted}")
        if set(full) - set(shown) != sections:
            raise RuntimeError(f"redaction removed {set(full) - set(shown)}, reported {sections}")
        for key in shown:
            if key not in ("libraries", "governance") and shown[key] != full[key]:
                raise RuntimeError(f"redaction changed section {key}")

    # --- the checks alone, inside the server ---------------------------------------

    def server_timings(self) -> dict[str, float]:
        """The checks alone, timed inside the server on fresh connections as
        odl_owner: once with the server's settings and once with jit off."""
        timings: dict[str, float] = {}
        for jit in ("on", "off"):
            su = self.ctx.connect(user="postgres", options=f"-c jit={jit}")
            try:
                su.execute(SERVER_TIMINGS)
                su.execute("set role odl_owner")
                su.execute(SET_CONTEXT, (self.tenant, self.engineer))
                patch = Jsonb(self.patches["1 MB"].next())
                timings[f"authorize, jit {jit}"] = su.execute(
                    "select pg_temp.bench_authorize(%s, %s, %s)", (self.project, patch, SERVER_REPEATS)
                ).fetchone()[0]
                su.execute(SET_CONTEXT, (self.tenant, self.guest))
                timings[f"redact, jit {jit}"], timings[f"plain, jit {jit}"] = su.execute(
                    "select * from pg_temp.bench_redact(%s, %s)", (self.doc_ids["1 MB"], SERVER_REPEATS // 10)
                ).fetchone()
                su.rollback()
            finally:
                su.close()
        return timings

    def analyze(self) -> None:
        with self.ctx.connect(user="postgres", autocommit=True) as su:
            su.execute("analyze")


def _measure(ctx: Context, bench: Bench, sizes: tuple[str, ...]) -> dict:
    writes = {}
    for label in sizes:
        with Stopwatch() as sw:
            writes[label] = bench.writes(label)
        ctx.log(f"{label}: {ROUNDS[label]} write rounds in {sw.seconds:.1f} s")
    with Stopwatch() as sw:
        reads, removed = bench.reads()
    ctx.log(f"1 MB: {READ_ROUNDS} read rounds in {sw.seconds:.1f} s")
    return {"writes": writes, "reads": reads, "removed": removed, "server": bench.server_timings()}


def run(ctx: Context) -> Section:
    bench = Bench(ctx)
    ctx.log(f"tenant with {len(bench.nodes)} nodes, {ASSIGNMENTS} assignments in {bench.setup_seconds:.1f} s")
    try:
        with one_cpu(bench.app, bench.owner) as pinning:
            running = _measure(ctx, bench, tuple(SIZES))
            bench.analyze()
            ctx.log("analyze: statistics for every table, the policy's small tables included")
            analyzed = _measure(ctx, bench, tuple(SIZES))
    finally:
        bench.close()

    rows = _rows(ctx, running, "") + _rows(ctx, analyzed, "after `analyze`: ")
    return Section(
        compared=_compared(),
        method=_method(bench, pinning),
        rows=rows,
        baseline_name="unchecked",
        candidate_name="checked",
        notes=_notes(running, analyzed),
        facts={"setup": f"{bench.setup_seconds:.1f} s for {len(bench.nodes)} nodes and "
                        f"{ASSIGNMENTS} assignments through the API"},
    )


def _rows(ctx: Context, measured: dict, prefix: str) -> list[Row]:
    rows: list[Row] = []
    diagnostic = bool(prefix)
    for label, times in measured["writes"].items():
        unit, scale = ("ms/patch", 1e3) if label == "1 MB" else ("µs/patch", 1e6)
        rows.append(compare(
            f"{prefix}write, {label}: an engineer's 10-operation `odl_apply_patch()` (rights inherited from "
            "5 levels up) vs the same patch through the writer alone, `odl.write_patch()`",
            unit,
            [t * scale for t in times["unchecked"]],
            [t * scale for t in times["checked"]],
            GOAL if label == "1 MB" and not diagnostic else None,
            ctx.seed,
        ))
    for reader, article in (("guest", "a"), ("engineer", "an")):
        rows.append(compare(
            f"{prefix}read, 1 MB: `odl_get_document()` by {article} {reader} ({len(measured['removed'][reader])} "
            "pointers redacted) vs a plain read of the stored document",
            "ms/read",
            [t * 1e3 for t in measured["reads"]["plain"]],
            [t * 1e3 for t in measured["reads"][reader]],
            None,
            ctx.seed,
        ))
    return rows


def _compared() -> str:
    return (
        "What access control adds to the document API, each side measured in the same run, interleaved "
        "round by round:\n\n"
        "1. **Write**: an engineer's ten-operation patch to a 1 MB document through `odl_apply_patch()` "
        "(the user's roles at the project's node by the nearest-node rule, rights per section, MFA, phase "
        "gate, approval sections, then the writer) against the same patch through `odl.write_patch()`, "
        "the writer `odl_apply_patch()` calls once it has authorized a patch, called directly under the "
        "same `odl_set_context()`. Goal: the checks add at most 10% (ratio ≤ 1.10). The same at 10 KB, "
        "where a patch is cheap, for information.\n"
        "2. **Read**: `odl_get_document()` of the 1 MB document by a guest and by an engineer (the R check, "
        "then sections without R or above the reader's clearance and classified parts removed) against a "
        "plain read of the stored document (`select doc_json from odl.odl_documents where doc_id = $1`). "
        "For information.\n\n"
        "Both run first with the statistics of a running database (the verdict): autovacuum has analyzed "
        "the tables that received more rows than its threshold, `odl.rbac_role_rights` (272 rows, "
        "materialized by the deploy), the nodes, assignments and projects, but never the policy's small "
        "tables (`odl.rbac_sections`, `odl.rbac_rights`, `odl.rbac_roles`, …). Then again, for information, "
        "after an `analyze` of every table. The statistics decide whether the checks are JIT-compiled "
        "(notes)."
    )


def _method(bench: Bench, pinning: str) -> str:
    docs = "; ".join(
        f"{label}: {odlsd.compact_size(doc):,} bytes of compact JSON, {len(doc['instances']):,} instances"
        for label, doc in bench.docs.items()
    )
    return (
        f"- Tenant: one hierarchy of {len(bench.nodes)} nodes ({' > '.join(LEVELS)}, fan-out "
        f"{', '.join(map(str, FANOUT))}), a project attached at the first STRING, five levels below the "
        f"PORTFOLIO; {OTHER_USERS} other users with {ASSIGNMENTS_PER_OTHER} assignments each at random nodes "
        "and roles. The engineer and the guest hold their role at the PORTFOLIO only; the engineer also "
        "has an expired `expert` assignment at the PLANT on the path, which the lookup skips. The "
        "project is in phase design. Everything is made through the API (`odl_create_node`, "
        "`odl_attach_project`, `odl_assign_role`) by the tenant's administrator, who also creates the "
        "documents under a `super_user` assignment (W on every section).\n"
        f"- Documents: `fixtures/odlsd.generate(size, seed={SEED})` ({docs}).\n"
        "- The patch (`Patches` in the script): `test` /schema_version; `replace` the lifecycle_status of "
        "five instances spread over the document and the kind of three connections; `add` "
        "/meta/timestamps/updated_at. Sections meta, instances and connections, where an engineer holds W "
        "and no approval is needed, so every checked patch is applied (outcome `applied`, checked). Values "
        "come from one counter per document, so no version repeats an earlier content and the server "
        "never answers validation from its cache.\n"
        f"- Writes: {', '.join(f'{ROUNDS[label]} rounds at {label}' for label in SIZES)}, after "
        f"{WARMUP} warm-up rounds each. A round runs both sides on the same document in shuffled order, "
        "each the next patch of the document's sequence, each its own transaction: **checked** as odl_app "
        "(`odl_set_context(tenant, engineer)`, `select version, outcome from odl_apply_patch(id, patch, "
        "expected_version)`, `commit`); **unchecked** on a superuser's connection that ran `set role "
        "odl_owner`, the owner that `odl_apply_patch()` runs as, so that row-level security applies alike "
        "on both sides (`odl_set_context(tenant, engineer)`, `select version from odl.write_patch(id, patch, "
        "expected_version, null, '{}', null, false, 100)`, the arguments `odl_apply_patch()` passes, "
        "`commit`). Timed: the statement and the commit. Ratios are medians of per-round ratios with a 95% "
        "bootstrap interval (`harness.compare`); the time columns are each side's median.\n"
        f"- Reads: {READ_ROUNDS} rounds after {WARMUP} warm-up rounds, each three reads of the 1 MB "
        "document in shuffled order, each its own transaction: `select document::text, redacted from "
        "odl_get_document(id)` by the guest and by the engineer (odl_app), and the plain `select "
        "doc_json::text from odl.odl_documents where doc_id = $1` (odl_owner, under the guest's context). "
        "Both sides send the document as text, as an application receives it; the first round checks that "
        "the redacted document is the stored one without the sections `redacted` names.\n"
        "- Statistics: after the setup, `analyze odl.nodes, odl.rbac_assignments, odl.projects, "
        "odl.rbac_role_rights`, what autovacuum does on its own soon after (each received more rows than "
        "its threshold), so that the first measurement does not depend on whether autovacuum got there "
        "first. Then everything above again after `analyze` of every table, on the same documents.\n"
        f"- {pinning} (see harness.one_cpu)."
    )


def _notes(running: dict, analyzed: dict) -> str:
    def diff(measured: dict, label: str) -> str:
        times = measured["writes"][label]
        return f"{statistics.median(c - u for c, u in zip(times['checked'], times['unchecked'])) * 1e3:.1f} ms"

    def server(measured: dict, what: str, jit: str, scale: float = 1e3) -> str:
        return f"{measured['server'][f'{what}, jit {jit}'] * scale:,.{1 if scale == 1e3 else 0}f}"

    def read(measured: dict, side: str) -> str:
        return f"{statistics.median(measured['reads'][side]) * 1e3:.1f} ms"

    jit_share = running["server"]["authorize, jit on"] / running["server"]["authorize, jit off"]
    lines = [
        "**Where the time of the checks goes.** Median per-round difference, checked minus unchecked: "
        + ", ".join(f"{diff(running, label)} at {label}" for label in running["writes"])
        + " with the statistics of a running database; "
        + ", ".join(f"{diff(analyzed, label)} at {label}" for label in analyzed["writes"])
        + " after `analyze`. Timed alone inside the server "
        f"(fresh connections as odl_owner, {SERVER_REPEATS} calls), `odl.authorize_write()` for this patch "
        "(the roles by the nearest-node rule, the rights of every section, MFA, phase gates, approval "
        "sections):",
        "",
        "| inside the server | running database, jit on (the default) | running database, jit off "
        "| after `analyze`, jit on | after `analyze`, jit off |",
        "|---|--:|--:|--:|--:|",
        "| `odl.authorize_write()`, µs | "
        + " | ".join(server(m, "authorize", jit, 1e6) for m in (running, analyzed) for jit in ("on", "off"))
        + " |",
        f"| the R check and `odl.redact()` of the 1 MB document for the guest, then `::text`, ms "
        f"({SERVER_REPEATS // 10} calls) | "
        + " | ".join(server(m, "redact", jit) for m in (running, analyzed) for jit in ("on", "off"))
        + " |",
        "| the stored document, `::text`, ms | "
        + " | ".join(server(m, "plain", jit) for m in (running, analyzed) for jit in ("on", "off"))
        + " |",
        "",
    ]
    if jit_share > 2:
        lines.append(
            f"With the statistics of a running database, JIT compilation makes the check {jit_share:.0f}× "
            "slower. `odl.rbac_role_rights` has statistics, but the policy's small tables have none, so the "
            "planner takes each of them for hundreds of rows (a table never analyzed is estimated from its "
            "pages), and the set-returning `odl.user_roles()` for 1,000 rows; the query of "
            "`odl.user_rights()` is then costed above `jit_above_cost` (100,000 by default) and every call "
            "compiles its expressions with LLVM, milliseconds each time. Without statistics on "
            "`odl.rbac_role_rights` either (right after a deploy, before autovacuum's first pass) the "
            "estimate happens to stay below the threshold; with statistics on every table, or with "
            "`jit = off`, the plans are cheap and JIT stays off."
        )
        lines.append("")
    lines.append(
        "**Reads.** The plain read takes "
        f"{read(running, 'plain')} ({read(analyzed, 'plain')} after `analyze`), the text of the "
        "1 MB document included. `odl_get_document()` rebuilds the document it returns: `doc - hidden` "
        "copies what remains, and each classified part removed inside a section (`jsonb_without`, "
        "`jsonb_set`) copies the whole document again."
    )
    lines.append("")
    lines.append(
        "**What was redacted.** "
        + "; ".join(f"{reader}: {', '.join(f'`{p}`' for p in pointers)}"
                    for reader, pointers in sorted(running["removed"].items()))
        + "."
    )
    return "\n".join(lines)
