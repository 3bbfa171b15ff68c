"""PSU charges: latency and throughput on one hot tenant, and the full
concurrency check of issue 13.

1. Hot tenant. CLIENTS threads as odl_app charge 1 PSU each, with a new
   idempotency key, to one tenant with a budget that never runs out; each
   transaction is `odl_set_context()` + `odl_psu_charge()` + commit. The
   baseline is the same transaction with `odl_audit_log()` instead: the
   cheapest audited write, which serializes on the same tenant's audit chain
   head as every charge does (a charge is audited too). Rounds alternate,
   in shuffled order; latency is that of the whole transaction as the
   client sees it, p50 and p99 over every round. Trace ingest: the same
   clients record one tool-call span per transaction with
   `odl_record_tool_call()`, without PSU (no lock, no audit) and charging
   1 PSU each (the charge's lock and audit), in the same rounds.
2. Concurrency (tests/python/psu_workload.py): 64 connections x 1,000
   operations over tenants with tiny budgets, 20% retries with the same
   key, 5% aborted transactions, 10% reservations consumed; the invariant
   granted = consumed + reserved + remaining = the ledger's sums is checked
   in snapshot after snapshot while it runs, and at the end: overshoot,
   lost and double charges must all be 0. Meanwhile administrators add 20 PSU
   to a tenant's budget every 20 ms, so budgets run out and refill all along.
   ODL_BENCH_QUICK=1 runs 64 x 50.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

from harness import Context, Row, Section, compare

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
import psu_workload  # noqa: E402

TITLE = "PSU charges: hot tenant and 64 concurrent connections"

QUICK = os.environ.get("ODL_BENCH_QUICK") == "1"
CLIENTS = 8
ROUNDS = 2 if QUICK else 4
ROUND_SECONDS = 2.0 if QUICK else 5.0
CONNECTIONS = 64
OPERATIONS = 50 if QUICK else 1000
TENANTS = 16


def hot_round(ctx: Context, tenant: psu_workload.Tenant, statement: str, seconds: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(CLIENTS + 1)
    stop = [0.0]

    def worker() -> None:
        mine = []
        with ctx.connect(user="odl_app") as conn:
            # Warm: the session's first ULID loads the PL/Python modules.
            conn.execute("select odl.odl_ulid()")
            conn.commit()
            ready.wait()
            while time.perf_counter() < stop[0]:
                started = time.perf_counter()
                with conn.transaction():
                    conn.execute("select odl.odl_set_context(%s, %s)", (tenant.tenant_id, tenant.user_id))
                    conn.execute(statement, (uuid.uuid4().hex,))
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    stop[0] = time.perf_counter() + 3600
    ready.wait()
    stop[0] = time.perf_counter() + seconds
    for t in threads:
        t.join()
    return len(latencies), latencies


def run(ctx: Context) -> Section:
    with ctx.connect() as admin:
        hot = psu_workload.make_tenants(admin, 1, granted=10**12, user_granted=None, prefix="psu-hot")[0]
    span = (
        "select odl.odl_record_tool_call(k, left(k, 16), 'bench', now(), now() + interval '5 ms', {psu}, 100, 20, "
        "'model-x', 'provider-y') from (select md5(%s::text) as k) as x"
    )
    sides = {
        "baseline": "select odl.odl_audit_log('bench.charge', jsonb_build_object('key', %s::text))",
        "candidate": "select odl.odl_psu_charge(1, %s, 'bench')",
        "span": span.format(psu=0),
        "charged span": span.format(psu=1),
    }
    rates: dict[str, list[float]] = {side: [] for side in sides}
    latencies: dict[str, list[float]] = {side: [] for side in sides}
    rng = random.Random(ctx.seed)
    for n in range(ROUNDS):
        order = list(sides)
        rng.shuffle(order)
        for side in order:
            count, lat = hot_round(ctx, hot, sides[side], ROUND_SECONDS)
            rates[side].append(count / ROUND_SECONDS)
            latencies[side].extend(lat)
            ctx.log(f"round {n + 1} {side}: {count / ROUND_SECONDS:.0f}/s")

    def p(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    rows = [
        compare(f"transactions per second, {CLIENTS} clients on one tenant", "tx/s",
                rates["baseline"], rates["candidate"], None, ctx.seed),
        Row("p50 latency of a transaction, hot tenant", "ms", p(latencies["baseline"], 50),
            p(latencies["candidate"], 50), p(latencies["candidate"], 50) / p(latencies["baseline"], 50)),
        Row("p99 latency of a transaction, hot tenant", "ms", p(latencies["baseline"], 99),
            p(latencies["candidate"], 99), p(latencies["candidate"], 99) / p(latencies["baseline"], 99)),
        compare(f"trace ingest: spans per second without PSU, {CLIENTS} clients on one tenant (candidate column)",
                "spans/s", rates["baseline"], rates["span"], None, ctx.seed),
        compare(f"trace ingest: spans per second charging 1 PSU each, {CLIENTS} clients (candidate column)",
                "spans/s", rates["baseline"], rates["charged span"], None, ctx.seed),
    ]

    with ctx.connect() as admin:
        tenants = psu_workload.make_tenants(admin, TENANTS, granted=60, user_granted=25, prefix="psu-conc")
    started = time.perf_counter()
    out = psu_workload.run(
        lambda: ctx.connect(user="odl_app"), lambda: ctx.connect(), tenants, CONNECTIONS, OPERATIONS, ctx.seed
    )
    seconds = time.perf_counter() - started
    with ctx.connect() as conn:
        problems = psu_workload.final_problems(conn, tenants, out)
    rows.append(Row(f"problems after {CONNECTIONS} x {OPERATIONS:,} operations (overshoot, lost, double, invariant; "
                    "goal 0)", "count", 0.0, float(len(problems)), float(len(problems)), goal=0.0))
    charged = sum(amount for _, amount, _ in out.committed.values())
    return Section(
        compared=(
            "Charging PSU (`odl_psu_charge`, idempotent, hard limit before the work, audited) against the cheapest "
            "audited write (`odl_audit_log`) on one hot tenant; and the concurrency check of issue 13."
        ),
        method=__doc__.split("\n\n", 1)[1],
        rows=rows,
        notes=(
            f"Concurrency run: {CONNECTIONS} connections x {OPERATIONS:,} operations over {TENANTS} tenants "
            f"(budgets of 60 PSU, every other with a user budget of 25) in {seconds:.1f} s: "
            f"{len(out.committed):,} committed charges and reservations ({charged:,} PSU), "
            f"{out.refused:,} refused at the hard limit (ODM01), {out.retries:,} retries, "
            f"{len(out.aborted):,} aborted transactions, {out.top_ups:,} top-ups of 20 PSU by administrators, "
            f"{out.snapshots:,} snapshots checked while running; "
            f"problems: {problems[:5] or 'none'}."
        ),
        baseline_name="audited write",
        candidate_name="PSU charge",
    )
