"""RLS overhead: what forced row-level security costs a tenant's reads.

1,000 tenants x 1,000 projects. Two queries, each run two ways, interleaved
batch by batch in one run:

- RLS: as odl_app after odl_set_context(tenant, user), with no tenant filter
  in the query; the policy adds `tenant_id = (select odl_current_tenant_id())`.
- Baseline: as the superuser postgres, which bypasses RLS, with the tenant
  filter written out: `where tenant_id = $1 and ...`. The owner cannot be the
  baseline because RLS is forced on it too.
"""

from __future__ import annotations

import random
import re
import time

from harness import Context, Section, Stopwatch, compare

TITLE = "RLS overhead"
GOAL = 1.10  # highest acceptable RLS / baseline ratio

TENANTS = 1_000
PROJECTS_PER_TENANT = 1_000
PAGE_SIZE = 50
WARMUP_ROUNDS = 30
ROUNDS = 600
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

# Plan shapes the comparison relies on: the RLS plans must use the same index
# as the baseline, with tenant_id bound from the policy's InitPlan.
EXPECTED_PLANS = {
    ("lookup", "rls"): [r"InitPlan 1", r"Index Scan using projects_pkey",
                        r"Index Cond: \(\(\(tenant_id\)::text = \$0\) AND"],
    ("lookup", "baseline"): [r"Index Scan using projects_pkey"],
    ("page", "rls"): [r"InitPlan 1", r"Index Scan using projects_tenant_id_name_key",
                      r"Index Cond: \(\(\(tenant_id\)::text = \$0\) AND"],
    ("page", "baseline"): [r"Index Scan using projects_tenant_id_name_key"],
}

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
                         'Hydro plant'])[1 + abs(hashint8(i)) % 5],
                  lpad((i / {TENANTS})::text, 4, '0')),
           (array['design', 'design', 'procurement', 'construction', 'operations'])
               [1 + abs(hashint8extended(i, 3)) % 5],
           (array['internal', 'internal', 'internal', 'confidential', 'public'])
               [1 + abs(hashint8extended(i, 4)) % 5],
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


def _server_loop(kind: str, side: str) -> str:
    """A temporary plpgsql function that runs one query once per key and
    returns the seconds spent, so that no network or driver time is in it."""
    query = QUERIES[kind][side].format(tenant="p_tenant", key="p_key")
    return f"""
    create function pg_temp.bench_{kind}(p_tenant text, p_keys text[])
    returns double precision
    language plpgsql
    as $$
    declare
        p_key text;
        started timestamptz := clock_timestamp();
    begin
        foreach p_key in array p_keys loop
            perform {query.removeprefix("select ")};
        end loop;
        return extract(epoch from clock_timestamp() - started);
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
                self.cur.execute(_server_loop(kind, name))

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
        sql = QUERIES[kind][self.name].format(tenant="%s", key="%s")
        params = [(key,) if self.name == "rls" else (tenant, key) for key in keys]
        cur = self.cur
        with self.conn.transaction():
            setup = self.begin(tenant, user)
            started = time.perf_counter()
            for p in params:
                cur.execute(sql, p, prepare=True)
                cur.fetchall()
            elapsed = time.perf_counter() - started
        return elapsed / len(keys), setup

    def server_batch(self, kind: str, tenant: str, user: str, keys: list[str]) -> float:
        with self.conn.transaction():
            self.begin(tenant, user)
            self.cur.execute(f"select pg_temp.bench_{kind}(%s, %s)", (tenant, keys))
            (elapsed,) = self.cur.fetchone()
        return elapsed / len(keys)

    def explain(self, kind: str, tenant: str, user: str, key: str) -> str:
        """The generic plan, the one a prepared statement settles on."""
        sql = QUERIES[kind][self.name].format(tenant="$1", key="$2" if self.name == "baseline" else "$1")
        types = "text, text" if self.name == "baseline" else "text"
        args = (tenant, key) if self.name == "baseline" else (key,)
        with self.conn.transaction():
            self.begin(tenant, user)
            self.cur.execute(f"prepare bench_explain ({types}) as {sql}")
            self.cur.execute("set local plan_cache_mode = force_generic_plan")
            placeholders = ", ".join(["%s"] * len(args))
            self.cur.execute(
                f"explain (analyze, buffers, costs off, timing off, summary off)"
                f" execute bench_explain ({placeholders})",
                args,
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

    probe = tenants[len(tenants) // 2]
    plans: dict[tuple[str, str], str] = {}
    for kind in QUERIES:
        for name, side in sides.items():
            user, projects, names = keys[probe]
            key = projects[0] if kind == "lookup" else names[0]
            plans[kind, name] = side.explain(kind, probe, user, key)
    plan_problems = [
        f"{kind}/{name}: no match for /{pattern}/"
        for (kind, name), patterns in EXPECTED_PLANS.items()
        for pattern in patterns
        if not re.search(pattern, plans[kind, name])
    ]

    # times[(measure, kind, side)] = per-query seconds, one value per round
    times: dict[tuple[str, str, str], list[float]] = {}
    setup: dict[str, list[float]] = {name: [] for name in SIDES}
    with Stopwatch() as measuring:
        for round_no in range(WARMUP_ROUNDS + ROUNDS):
            record = round_no >= WARMUP_ROUNDS
            tenant = rng.choice(tenants)
            user, projects, names = keys[tenant]
            batches = [(m, k) for m in ("client", "server") for k in QUERIES]
            rng.shuffle(batches)
            for measure, kind in batches:
                size = CLIENT_BATCH if measure == "client" else SERVER_BATCH
                batch_keys = rng.choices(projects if kind == "lookup" else names, k=size)
                order = list(SIDES)
                rng.shuffle(order)
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
    ctx.log(f"measured {ROUNDS} rounds in {measuring.seconds:.1f} s")

    plan_cache = {name: side.plan_cache() for name, side in sides.items()}
    for side in sides.values():
        side.conn.close()

    us = 1e6
    rows = []
    for kind in QUERIES:
        for measure, label in (("server", "server-side"), ("client", "client round trip")):
            rows.append(compare(
                f"{kind}: {QUERIES[kind]['title']}, {label}",
                "µs/query",
                [t * us for t in times[measure, kind, "baseline"]],
                [t * us for t in times[measure, kind, "rls"]],
                GOAL,
                ctx.seed,
            ))
    rows.append(compare(
        "per transaction: odl_set_context() vs `select 1`, client round trip",
        "µs/transaction",
        [t * us for t in setup["baseline"]],
        [t * us for t in setup["rls"]],
        None,
        ctx.seed,
    ))

    lookup_rtt = rows[1]
    setup_row = rows[-1]
    extra = setup_row.candidate - setup_row.baseline

    plan_text = "\n\n".join(
        f"{QUERIES[kind]['title']}, {name}:\n\n```\n{plans[kind, name]}\n```"
        for kind in QUERIES for name in SIDES
    )
    cache_lines = "\n".join(
        f"- {name}: `{statement}` → {generic} generic, {custom} custom plans"
        for name in SIDES for statement, generic, custom in plan_cache[name]
    )
    plan_check = (
        "All four plans have the expected shape: the RLS lookup uses `projects_pkey` and the "
        "RLS page uses `projects_tenant_id_name_key`, both with `tenant_id = $0` bound from the "
        "policy's InitPlan in the index condition, exactly the index scans of the baseline."
        if not plan_problems
        else "**Plan check failed:** " + "; ".join(plan_problems)
    )

    compared = (
        "Reads of one tenant's projects through forced RLS (`odl_app` after "
        "`odl_set_context(tenant, user)`, no tenant filter in the query) against the same "
        "query with an explicit `tenant_id = $1` filter run by the superuser `postgres`, "
        "which bypasses RLS. The table owner `odl_owner` cannot serve as the baseline: "
        "RLS is forced, so it is bound by the policy too.\n\n"
        f"- **lookup**: `{QUERIES['lookup']['rls']}` vs "
        f"`... where tenant_id = $1 and project_id = $2`;\n"
        f"- **page**: `{QUERIES['page']['rls']}` vs "
        f"`... where tenant_id = $1 and name > $2 order by name limit {PAGE_SIZE}`: the next "
        "page of a tenant's project list sorted by name, keyset-paginated from a random "
        "project of the tenant (always a full page)."
    )
    method = (
        f"- Data: {TENANTS:,} tenants, one user each, {PROJECTS_PER_TENANT:,} projects each "
        f"({TENANTS * PROJECTS_PER_TENANT:,} rows, `odl.projects` {table_bytes / 2**20:.0f} MiB "
        "with indexes), loaded by the superuser with `insert ... select` from "
        "`generate_series`, FK checks and domain checks on; project i belongs to tenant "
        "i mod 1,000, so a tenant's rows are spread over the heap. Ids are ULIDs built "
        "set-wise (millisecond time + hashed bits; `odl.odl_ulid()` per row made the load "
        "~12 s slower). Then `vacuum analyze` and `pg_prewarm` of the table and its indexes.\n"
        f"- {ROUNDS} rounds after {WARMUP_ROUNDS} warm-up rounds. Each round picks a random "
        "tenant and random keys of it, then runs each of the four (query × timing) batches on "
        "both sides with the same keys, in a shuffled order, so a round is a matched pair. "
        "Ratios are the median over rounds of RLS / baseline, with a 95% bootstrap interval; "
        "the µs columns are the medians of each side.\n"
        "- Each batch is one transaction on a long-lived TCP connection: `begin`, the setup "
        "statement (`odl_set_context()` for RLS, `select 1` for the baseline; not in the query "
        "timings), the queries, `commit`.\n"
        f"- **server-side**: a temporary plpgsql function runs the query {SERVER_BATCH} times "
        "(`perform`, cached generic plan, every row fetched) and returns "
        "`clock_timestamp()` elapsed / count: executor time plus a plpgsql loop step, no "
        "network, parse or driver.\n"
        f"- **client round trip**: {CLIENT_BATCH} executions of a psycopg prepared statement "
        "(`prepare=True`) with `fetchall()`, timed with `perf_counter` / count: what an "
        "application sees, Python row decoding included."
    )
    notes = (
        f"With one query per transaction, RLS adds the `odl_set_context()` call: "
        f"{extra:.0f} µs more than a `select 1` round trip, i.e. "
        f"{extra / lookup_rtt.baseline:.0%} of a baseline lookup round trip. Batching several "
        "queries per transaction spreads it.\n\n"
        f"{plan_check}\n\n"
        "Prepared statements at the end of the run (the baseline must not be re-planned "
        "per execution, or it would look slow):\n\n"
        f"{cache_lines}\n\n"
        "<details><summary>Generic plans (EXPLAIN ANALYZE, BUFFERS, one key)</summary>\n\n"
        f"{plan_text}\n\n</details>"
    )
    facts = {
        "load time": f"{load_seconds:.1f} s ({TENANTS * PROJECTS_PER_TENANT:,} projects, "
        "then vacuum analyze)",
        "measurement time": f"{measuring.seconds:.1f} s",
    }
    return Section(compared=compared, method=method, rows=rows, notes=notes, facts=facts)
