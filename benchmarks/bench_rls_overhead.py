"""RLS overhead: what forced row-level security costs a tenant's reads.

1,000 tenants x 1,000 projects. Two queries, each run two ways, interleaved
batch by batch in one run:

- RLS: as odl_app after odl_set_context(tenant, user), with no tenant filter
  in the query; the policy adds
  `tenant_id = (select c.tenant_id from odl.current_context as c)`.
- Baseline: as the superuser postgres, which bypasses RLS, with the tenant
  filter written out: `where tenant_id = $1 and ...`. The owner cannot be the
  baseline because RLS is forced on it too.
"""

from __future__ import annotations

import random
import re
import time

from psycopg import sql

from harness import Context, Section, Stopwatch, compare, one_cpu

TITLE = "RLS overhead"
GOAL = 1.10  # highest acceptable RLS / baseline ratio

TENANTS = 1_000
PROJECTS_PER_TENANT = 1_000
PAGE_SIZE = 50
WARMUP_ROUNDS = 50
ROUNDS = 1500
CLIENT_BATCH = 40   # queries per transaction, timed from the client
SERVER_BATCH = 100  # queries per transaction, timed inside the server

COLUMNS = "project_id, name, phase, classification, created_by, created_at"

# {tenant} and {key} become %s for the client and plpgsql variables for the
# server-side loop, so both measure the very same statement.
QUERIES = {
    "lookup": {
        "title": "indexed lookup of one project by project_id",
        "rls": f"select {COLUMNS} from odl.projects where project_id = {{key}}",
        "baseline": f"select {COLUMNS} from odl.projects"
        " where tenant_id = {tenant} and project_id = {key}",
    },
    "page": {
        "title": f"{PAGE_SIZE}-row keyset page of projects by name",
        "rls": f"select {COLUMNS} from odl.projects"
        f" where name > {{key}} order by name limit {PAGE_SIZE}",
        "baseline": f"select {COLUMNS} from odl.projects"
        f" where tenant_id = {{tenant}} and name > {{key}} order by name limit {PAGE_SIZE}",
    },
}
SIDES = ("rls", "baseline")

# Where the overhead comes from: the policy's once-per-query read of the
# tenant context, against the cheapest read of the same setting. Both run
# as odl_app inside a transaction with the context set.
CONTEXT_READS = {
    "rls": "(select c.tenant_id from odl.current_context as c)",
    "baseline": "(select current_setting('odl.tenant_id', true))",
}

# Rows each query must return, checked on every execution: a broken
# context makes RLS return nothing, which would look fast.
EXPECTED_ROWS = {"lookup": 1, "page": PAGE_SIZE}

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _crockford(expr: str, chars: int) -> str:
    """SQL that spells the low 5*chars bits of a bigint in Crockford base32."""
    return " || ".join(
        f"substr('{ALPHABET}', ((({expr}) >> {5 * k}) & 31)::int + 1, 1)"
        for k in reversed(range(chars))
    )


# A ULID built set-wise: 48-bit millisecond time, then 80 pseudo-random bits
# from hashes of the salt. Time parts are distinct, so ids are unique, and the
# odl.ulid domain checks each one on insert.
BENCH_ULID = f"""
create function pg_temp.bench_ulid(ms bigint, salt bigint)
returns text
language sql
immutable
return {_crockford("ms", 10)}
    || {_crockford("hashint8extended(salt, 1)", 12)}
    || {_crockford("hashint8extended(salt, 2)", 4)}
"""

LOAD = [
    BENCH_ULID,
    f"""
    insert into odl.tenants (tenant_id, name, region, created_at)
    select pg_temp.bench_ulid({EPOCH_MS} + t, t),
           format('Tenant %s', lpad(t::text, 4, '0')),
           (array['US', 'EU', 'APAC'])[1 + t % 3],
           to_timestamp(({EPOCH_MS} + t) / 1000.0)
    from generate_series(0, {TENANTS - 1}) as t
    """,
    f"""
    insert into odl.users (tenant_id, user_id, email, role, created_at)
    select pg_temp.bench_ulid({EPOCH_MS} + t, t),
           pg_temp.bench_ulid({EPOCH_MS} + {TENANTS} + t, {TENANTS} + t),
           format('owner%s@tenant%s.example', t, t),
           'project_manager',
           to_timestamp(({EPOCH_MS} + {TENANTS} + t) / 1000.0)
    from generate_series(0, {TENANTS - 1}) as t
    """,
    # Project i belongs to tenant i % TENANTS: tenants create projects side
    # by side over time, so a tenant's rows are spread over the whole heap,
    # as they would be in production.
    f"""
    create temporary table bench_owners as
    select row_number() over (order by created_at) - 1 as t, tenant_id, user_id
    from odl.users
    """,
    f"""
    insert into odl.projects
        (tenant_id, project_id, name, phase, classification, created_by, created_at)
    select o.tenant_id,
           pg_temp.bench_ulid({EPOCH_MS} + 10 * {TENANTS} + i, 10 * {TENANTS} + i),
           format('%s %s',
                  (array['Solar park', 'Wind farm', 'Battery storage', 'Hybrid plant',
                         'Hydro plant'])[1 + (hashint8extended(i, 5) & 1023) % 5],
                  lpad((i / {TENANTS})::text, 4, '0')),
           (array['design', 'design', 'procurement', 'construction', 'operations'])
               [1 + (hashint8extended(i, 3) & 1023) % 5],
           (array['internal', 'internal', 'internal', 'confidential', 'public'])
               [1 + (hashint8extended(i, 4) & 1023) % 5],
           o.user_id,
           to_timestamp(({EPOCH_MS} + 10 * {TENANTS} + i) / 1000.0)
    from generate_series(0, {TENANTS * PROJECTS_PER_TENANT - 1}) as i
    inner join bench_owners as o on o.t = i % {TENANTS}
    """,
]

# Keys for the measured queries, drawn once as the superuser: ~1/16 of the
# projects, only those with at least PAGE_SIZE projects after them by name,
# so that every page is full.
SAMPLE = f"""
select p.tenant_id, u.user_id, p.project_id, p.name
from (
    select tenant_id, project_id, name,
           row_number() over (partition by tenant_id order by name desc) as from_end
    from odl.projects
) as p
inner join odl.users as u on u.tenant_id = p.tenant_id
where p.from_end > {PAGE_SIZE} and hashtext(p.project_id) & 15 = 0
"""


def _server_loop(name: str, query: str) -> str:
    """A temporary plpgsql function that runs a query once per key and
    returns the seconds spent and the rows fetched, so that no network or
    driver time is in the timing."""
    return f"""
    create function pg_temp.bench_{name}(
        p_tenant text, p_keys text[], out seconds double precision, out fetched bigint
    )
    language plpgsql
    as $$
    declare
        p_key text;
        n bigint;
        started timestamptz := clock_timestamp();
    begin
        fetched := 0;
        foreach p_key in array p_keys loop
            perform {query.removeprefix("select ")};
            get diagnostics n = row_count;
            fetched := fetched + n;
        end loop;
        seconds := extract(epoch from clock_timestamp() - started);
    end
    $$
    """


class Side:
    """One connection and how it opens a transaction: odl_app sets the
    tenant context; the baseline sends a trivial statement in its place, so
    both transactions have the same shape."""

    def __init__(self, ctx: Context, name: str):
        self.name = name
        self.conn = ctx.connect(user="odl_app" if name == "rls" else "postgres")
        self.cur = self.conn.cursor()
        with self.conn.transaction():
            for kind in QUERIES:
                query = QUERIES[kind][name].format(tenant="p_tenant", key="p_key")
                self.cur.execute(_server_loop(kind, query))
            if name == "rls":
                for read, expression in CONTEXT_READS.items():
                    self.cur.execute(_server_loop(f"context_{read}", f"select {expression}"))

    def begin(self, tenant: str, user: str) -> float:
        """Setup statement of the transaction; returns its round trip in s."""
        started = time.perf_counter()
        if self.name == "rls":
            self.cur.execute("select odl.odl_set_context(%s, %s)", (tenant, user))
        else:
            self.cur.execute("select 1")
        self.cur.fetchall()
        return time.perf_counter() - started

    def client_batch(self, kind: str, tenant: str, user: str, keys: list[str]) -> tuple[float, float]:
        """Seconds per query and seconds of the setup statement."""
        sql_text = QUERIES[kind][self.name].format(tenant="%s", key="%s")
        params = [(key,) if self.name == "rls" else (tenant, key) for key in keys]
        cur = self.cur
        fetched = 0
        with self.conn.transaction():
            setup = self.begin(tenant, user)
            started = time.perf_counter()
            for p in params:
                cur.execute(sql_text, p, prepare=True)
                fetched += len(cur.fetchall())
            elapsed = time.perf_counter() - started
        self._check(kind, fetched, len(keys))
        return elapsed / len(keys), setup

    def server_batch(self, kind: str, tenant: str, user: str, keys: list[str]) -> float:
        """Seconds per query, timed inside the server."""
        with self.conn.transaction():
            self.begin(tenant, user)
            self.cur.execute(f"select * from pg_temp.bench_{kind}(%s, %s)", (tenant, keys))
            elapsed, fetched = self.cur.fetchone()
        self._check(kind, fetched, len(keys))
        return elapsed / len(keys)

    def _check(self, kind: str, fetched: int, queries: int) -> None:
        if fetched != EXPECTED_ROWS[kind] * queries:
            raise RuntimeError(
                f"{self.name} {kind}: {fetched} rows from {queries} queries, expected "
                f"{EXPECTED_ROWS[kind]} each; is the tenant context working?"
            )

    def context_reads(self, tenant: str, user: str, order: list[str], count: int) -> dict[str, float]:
        """Seconds per evaluation of each CONTEXT_READS expression (rls only)."""
        per_read = {}
        with self.conn.transaction():
            self.begin(tenant, user)
            for read in order:
                self.cur.execute(
                    f"select * from pg_temp.bench_context_{read}(null, %s)", ([""] * count,)
                )
                elapsed, _ = self.cur.fetchone()
                per_read[read] = elapsed / count
        return per_read

    def explain(self, kind: str, tenant: str, user: str, key: str) -> str:
        """The generic plan, the one a prepared statement settles on, with
        parameter types inferred as for the client's prepared statements."""
        if self.name == "rls":
            sql_text, args = QUERIES[kind][self.name].format(key="$1"), (key,)
        else:
            sql_text, args = QUERIES[kind][self.name].format(tenant="$1", key="$2"), (tenant, key)
        with self.conn.transaction():
            self.begin(tenant, user)
            self.cur.execute(f"prepare bench_explain as {sql_text}")
            self.cur.execute("set local plan_cache_mode = force_generic_plan")
            self.cur.execute(
                sql.SQL(
                    "explain (analyze, buffers, costs off, timing off, summary off)"
                    " execute bench_explain ({})"
                ).format(sql.SQL(", ").join(map(sql.Literal, args)))
            )
            plan = "\n".join(row[0] for row in self.cur.fetchall())
            self.cur.execute("deallocate bench_explain")
        return plan

    def plan_cache(self) -> list[tuple[str, int, int]]:
        """(statement, generic plans, custom plans) of the prepared statements."""
        with self.conn.transaction():
            self.cur.execute(
                "select statement, generic_plans, custom_plans from pg_prepared_statements"
                " where statement like '%odl.projects%' order by statement"
            )
            return self.cur.fetchall()


def _load(ctx: Context) -> tuple[float, int]:
    with ctx.connect(autocommit=True) as conn:
        with Stopwatch() as sw:
            with conn.transaction():
                for statement in LOAD:
                    conn.execute(statement)
            conn.execute("vacuum analyze odl.tenants, odl.users, odl.projects")
        (size,) = conn.execute("select pg_total_relation_size('odl.projects')").fetchone()
        # Start measuring from a warm cache: table and indexes in shared_buffers.
        conn.execute("create extension if not exists pg_prewarm")
        conn.execute(
            "select pg_prewarm(c.oid) from pg_class as c"
            " where c.oid = 'odl.projects'::regclass"
            " or c.oid in (select indexrelid from pg_index where indrelid = 'odl.projects'::regclass)"
        )
    return sw.seconds, size


def _sample(ctx: Context) -> dict[str, tuple[str, list[str], list[str]]]:
    """tenant -> (user, project ids, page keys)."""
    by_tenant: dict[str, tuple[str, list[str], list[str]]] = {}
    with ctx.connect() as conn:
        for tenant, user, project, name in conn.execute(SAMPLE):
            entry = by_tenant.setdefault(tenant, (user, [], []))
            entry[1].append(project)
            entry[2].append(name)
    return by_tenant


def run(ctx: Context) -> Section:
    load_seconds, table_bytes = _load(ctx)
    ctx.log(f"loaded {TENANTS * PROJECTS_PER_TENANT:,} projects in {load_seconds:.1f} s")
    keys = _sample(ctx)
    tenants = sorted(keys)
    rng = random.Random(ctx.seed)
    sides = {name: Side(ctx, name) for name in SIDES}
    try:
        with one_cpu(*(side.conn for side in sides.values())) as pinning:
            plans = _plans(sides, keys, tenants[len(tenants) // 2])
            with Stopwatch() as measuring:
                times, setup, reads = _measure(sides, keys, tenants, rng)
            plan_cache = {name: side.plan_cache() for name, side in sides.items()}
    finally:
        for side in sides.values():
            side.conn.close()
    ctx.log(f"measured {ROUNDS} rounds in {measuring.seconds:.1f} s ({pinning})")

    us = 1e6
    rows = [
        compare(
            f"{kind}: {QUERIES[kind]['title']}, {label}",
            "µs/query",
            [t * us for t in times[measure, kind, "baseline"]],
            [t * us for t in times[measure, kind, "rls"]],
            GOAL,
            ctx.seed,
        )
        for kind in QUERIES
        for measure, label in (("server", "server-side"), ("client", "client round trip"))
    ]
    setup_row = compare(
        "per transaction: `odl_set_context()` vs `select 1`, client round trip",
        "µs/transaction",
        [t * us for t in setup["baseline"]],
        [t * us for t in setup["rls"]],
        None,
        ctx.seed,
    )
    reads_row = compare(
        f"per query: the policy's `{CONTEXT_READS['rls']}` vs "
        f"`{CONTEXT_READS['baseline']}`, server-side",
        "µs/read",
        [t * us for t in reads["baseline"]],
        [t * us for t in reads["rls"]],
        None,
        ctx.seed,
    )
    rows += [reads_row, setup_row]
    return Section(
        compared=_compared(),
        method=_method(table_bytes, pinning),
        rows=rows,
        baseline_name="baseline",
        candidate_name="RLS",
        notes=_notes(rows, setup_row, reads_row, plans, plan_cache),
        facts={
            "load": f"{load_seconds:.1f} s for {TENANTS * PROJECTS_PER_TENANT:,} projects "
            "with vacuum analyze",
            "measurement": f"{measuring.seconds:.1f} s",
        },
    )


def _plans(sides: dict[str, Side], keys, tenant: str) -> dict[tuple[str, str], str]:
    user, projects, names = keys[tenant]
    return {
        (kind, name): side.explain(kind, tenant, user, projects[0] if kind == "lookup" else names[0])
        for kind in QUERIES
        for name, side in sides.items()
    }


def _measure(sides: dict[str, Side], keys, tenants: list[str], rng: random.Random):
    """Interleaved rounds; returns per-query seconds by (measure, kind, side),
    per-transaction setup seconds by side, and per-read seconds by read."""
    times: dict[tuple[str, str, str], list[float]] = {}
    setup: dict[str, list[float]] = {name: [] for name in SIDES}
    reads: dict[str, list[float]] = {read: [] for read in CONTEXT_READS}
    batches = [(measure, kind) for measure in ("client", "server") for kind in QUERIES]
    batches.append(("context", None))
    for round_no in range(WARMUP_ROUNDS + ROUNDS):
        record = round_no >= WARMUP_ROUNDS
        tenant = rng.choice(tenants)
        user, projects, names = keys[tenant]
        rng.shuffle(batches)
        for measure, kind in batches:
            order = list(SIDES)
            rng.shuffle(order)
            if measure == "context":
                per_read = sides["rls"].context_reads(tenant, user, order, SERVER_BATCH)
                for read, seconds in per_read.items():
                    if record:
                        reads[read].append(seconds)
                continue
            size = CLIENT_BATCH if measure == "client" else SERVER_BATCH
            batch_keys = rng.choices(projects if kind == "lookup" else names, k=size)
            for name in order:
                side = sides[name]
                if measure == "client":
                    per_query, setup_seconds = side.client_batch(kind, tenant, user, batch_keys)
                    if record:
                        setup[name].append(setup_seconds)
                else:
                    per_query = side.server_batch(kind, tenant, user, batch_keys)
                if record:
                    times.setdefault((measure, kind, name), []).append(per_query)
    return times, setup, reads


def _compared() -> str:
    return (
        "Reads of one tenant's projects through forced RLS (`odl_app` after "
        "`odl_set_context(tenant, user)`, no tenant filter in the query) against the same "
        "query with the filter written out, `tenant_id = $1`, run by the superuser "
        "`postgres`, which bypasses RLS. The owner `odl_owner` cannot be the baseline: RLS "
        "is forced, so the policy binds it too.\n\n"
        f"- **lookup**: `{QUERIES['lookup']['rls'].format(key='$1')}` vs "
        "`... where tenant_id = $1 and project_id = $2`;\n"
        f"- **page**: `{QUERIES['page']['rls'].format(key='$1')}` vs "
        f"`... where tenant_id = $1 and name > $2 order by name limit {PAGE_SIZE}`: the next "
        "page of a tenant's project list sorted by name, keyset-paginated from a random "
        "project of the tenant (always a full page)."
    )


def _method(table_bytes: int, pinning: str) -> str:
    return (
        f"- Data: {TENANTS:,} tenants, one user each, {PROJECTS_PER_TENANT:,} projects each "
        f"({TENANTS * PROJECTS_PER_TENANT:,} rows; `odl.projects` {table_bytes / 2**20:.0f} MiB "
        "with its indexes), loaded by the superuser with `insert ... select` from "
        "`generate_series`, foreign keys and domain checks on. Project i belongs to tenant "
        "i mod 1,000, so a tenant's rows are spread over the heap as in production. Ids are "
        "ULIDs built set-wise (millisecond time, then hashed bits) because calling "
        "`odl.odl_ulid()` per row made the load about 12 s (40%) slower. Then `vacuum analyze`, "
        "and `pg_prewarm` of the table and its indexes into shared_buffers.\n"
        f"- {ROUNDS} rounds after {WARMUP_ROUNDS} warm-up rounds. Each round picks a random "
        "tenant and random keys of it and runs every batch below on both sides with the same "
        "keys, batches and sides in shuffled order: a round is a matched pair. The ratio is "
        "the median over rounds of RLS / baseline, with a 95% bootstrap interval; the µs "
        "columns are each side's median.\n"
        "- A batch is one transaction on a long-lived TCP connection: `begin`, a setup "
        "statement (`odl_set_context()` for RLS, `select 1` for the baseline, outside the "
        "query timings), the queries, `commit`. "
        f"Both connections: {pinning} (see harness.one_cpu).\n"
        f"- **server-side**: a temporary plpgsql function runs the query {SERVER_BATCH} times "
        "(`perform`: cached plan, every row fetched) and returns elapsed "
        "`clock_timestamp()` / count: executor time plus one plpgsql loop step; no network, "
        "parsing or driver.\n"
        f"- **client round trip**: {CLIENT_BATCH} executions of a psycopg prepared statement "
        "(`prepare=True`) with `fetchall()`, timed with `perf_counter` / count: what an "
        "application sees, Python row decoding included.\n"
        "- Every batch checks its row count (1 per lookup, "
        f"{PAGE_SIZE} per page) on both sides, so a broken context cannot pass for a fast one.\n"
        "- Diagnostics, without a goal: the policy's context read against a bare "
        "`current_setting()`, in the same server-side loop on the `odl_app` connection; and "
        "the round trip of each side's setup statement."
    )


def _plan_facts(plan: str) -> dict:
    # The policy's InitPlan scans session_contexts_pkey; the query's own scan is the other one.
    index = re.search(r"Index (?:Only )?Scan using (?!session_contexts_pkey)(\S+)", plan)
    buffers = re.search(r"Buffers: shared hit=(\d+)(?: read=(\d+))?", plan)
    return {
        "index": index.group(1) if index else None,
        "tenant_in_index": bool(re.search(r"Index Cond: .*tenant_id", plan)),
        "tenant_filter": bool(re.search(r"Filter: .*tenant_id", plan)),
        "initplan": "InitPlan" in plan,
        "buffers": sum(int(g) for g in buffers.groups() if g) if buffers else None,
    }


def _plan_check(plans: dict[tuple[str, str], str]) -> str:
    """The comparison is fair only if RLS reads through the baseline's index
    with tenant_id in the index condition, not as a filter after it."""
    lines = []
    for kind in QUERIES:
        rls, base = _plan_facts(plans[kind, "rls"]), _plan_facts(plans[kind, "baseline"])
        ok = (
            rls["index"] is not None
            and rls["index"] == base["index"]
            and rls["tenant_in_index"]
            and not rls["tenant_filter"]
        )
        source = "bound from the policy's InitPlan" if rls["initplan"] else "no InitPlan"
        lines.append(
            f"- {kind}: {'as expected' if ok else '**UNEXPECTED**'}: RLS scans "
            f"`{rls['index']}` (baseline: `{base['index']}`), tenant_id "
            f"{'in the index condition' if rls['tenant_in_index'] else 'not in the index condition'}"
            f"{', and in a filter' if rls['tenant_filter'] else ''}, {source}; "
            f"{rls['buffers']} shared buffers vs {base['buffers']}."
        )
    return "**Plans** (generic, as the prepared statements use):\n\n" + "\n".join(lines)


def _notes(rows, setup_row, reads_row, plans, plan_cache) -> str:
    lookup_server, lookup_rtt = rows[0], rows[1]
    extra_query = lookup_server.candidate - lookup_server.baseline
    extra_read = reads_row.candidate - reads_row.baseline
    extra_setup = setup_row.candidate - setup_row.baseline
    plan_text = "\n\n".join(
        f"{QUERIES[kind]['title']}, {name}:\n\n```\n{plans[kind, name]}\n```"
        for kind in QUERIES
        for name in SIDES
    )
    cache_lines = "\n".join(
        f"- {name}: `{statement}`: {generic} generic, {custom} custom"
        for name in SIDES
        for statement, generic, custom in plan_cache[name]
    )
    return (
        f"**Where the overhead is.** RLS makes a server-side lookup {extra_query:.1f} µs "
        f"slower; the policy's context read alone costs {extra_read:.1f} µs more than a bare "
        "`current_setting()`. With one query per transaction, `odl_set_context()` "
        f"adds another {extra_setup:.0f} µs over a `select 1` round trip "
        f"({extra_setup / lookup_rtt.baseline:.1f}× a baseline lookup round trip).\n\n"
        f"{_plan_check(plans)}\n\n"
        "**Plan cache.** Prepared statements at the end of the run; neither side is "
        "re-planned per execution:\n\n"
        f"{cache_lines}\n\n"
        "<details><summary>Generic plans (EXPLAIN ANALYZE, BUFFERS, one key)</summary>\n\n"
        f"{plan_text}\n\n</details>"
    )
