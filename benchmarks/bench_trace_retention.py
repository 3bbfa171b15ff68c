"""Trace retention at scale: dropping one month of 13 against deleting it.

13 monthly partitions of odl.tool_call_traces, ROWS spans each (one
tenant, one user), written as the superuser. Baseline: DELETE of the
oldest month's rows from a copy of its partition with the same indexes
(what a retention job that deletes rows does), committed; its dead tuples
are counted from the statistics after a flush, then VACUUM of the copy,
which it takes to make the space reusable. Candidate: `call odl.trace_maintenance(keep)`
with keep chosen so that exactly the oldest month is wholly older: it
drops that partition. Dead tuples are then summed over the 12 months kept
(0 expected: nothing was deleted there). Goals: the drop takes < 1 s, and
leaves 0 dead tuples. ODL_BENCH_QUICK=1 writes 20,000 spans a month.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone

import psycopg

from harness import Context, Row, Section, Stopwatch

TITLE = "Trace retention: dropping one month of 13 against DELETE"

QUICK = os.environ.get("ODL_BENCH_QUICK") == "1"
ROWS = 20_000 if QUICK else 200_000


def month_start(back: int) -> datetime:
    now = datetime.now(timezone.utc)
    y, m = divmod(now.month - 1 - back, 12)
    return datetime(now.year + y, m + 1, 1, tzinfo=timezone.utc)


def dead(conn: psycopg.Connection, table: str) -> int:
    conn.execute("select pg_stat_force_next_flush()")
    time.sleep(0.2)
    conn.execute("select pg_stat_clear_snapshot()")
    return conn.execute(
        "select coalesce(n_dead_tup, 0) from pg_stat_user_tables where relid = %s::regclass", (table,)
    ).fetchone()[0]


def partitions(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        """
        select c.oid::regclass::text
        from pg_inherits as i inner join pg_class as c on i.inhrelid = c.oid
        where i.inhparent = 'odl.tool_call_traces'::regclass and c.relname <> 'tool_call_traces_default'
        order by c.relname
        """
    ).fetchall()]


def run(ctx: Context) -> Section:
    starts = [month_start(back) for back in range(12, -1, -1)]
    with ctx.connect() as su:
        su.autocommit = True
        su.execute("set stats_fetch_consistency = none")
        su.execute("set role odl_admin")
        tenant_id = su.execute("select odl.odl_create_tenant(%s, 'EU')",
                               (f"ret-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
        user_id = su.execute("select odl.odl_create_user(%s, %s, 'engineer')",
                             (tenant_id, f"{uuid.uuid4().hex[:6]}@x.io")).fetchone()[0]
        su.execute("reset role")
        su.execute("select partman.create_partition_time('odl.tool_call_traces', %s::timestamptz[])", (starts,))
        su.execute("call odl.trace_maintenance()")
        for n, start in enumerate(starts):
            su.execute(
                """
                insert into odl.tool_call_traces (tenant_id, span_id, start_time, end_time, trace_id, user_id,
                                                  gen_ai_tool_name, gen_ai_request_model, gen_ai_usage_input_tokens,
                                                  gen_ai_usage_output_tokens)
                select %s, lpad(to_hex(g), 16, '0'), %s::timestamptz + g * interval '10 seconds',
                       %s::timestamptz + g * interval '10 seconds' + interval '200 ms', md5(g::text), %s, 'sim',
                       'model-x', 100 + g %% 900, 20 + g %% 300
                from generate_series(1, %s) as g
                """,
                (tenant_id, start, start, user_id, ROWS),
            )
            ctx.log(f"month {n + 1}/13: {ROWS:,} spans")
        su.execute("vacuum analyze odl.tool_call_traces")
        parts = partitions(su)
        oldest = parts[0]
        in_oldest = su.execute(f"select count(*) from {oldest}").fetchone()[0]

        su.execute("drop table if exists public.bench_month_copy")
        su.execute(f"create table public.bench_month_copy (like {oldest} including all)")
        su.execute(f"insert into public.bench_month_copy select * from {oldest}")
        su.execute("vacuum analyze public.bench_month_copy")
        with Stopwatch() as deleting:
            su.execute("delete from public.bench_month_copy")
        deleted_dead = dead(su, "public.bench_month_copy")
        with Stopwatch() as vacuuming:
            su.execute("vacuum public.bench_month_copy")
        su.execute("drop table public.bench_month_copy")

        keep = datetime.now(timezone.utc) - starts[1]
        with Stopwatch() as dropping:
            su.execute("call odl.trace_maintenance(%s)", (keep,))
        gone = su.execute("select to_regclass(%s)", (oldest,)).fetchone()[0] is None
        kept = [p for p in partitions(su) if p < parts[-1]]
        kept_dead = sum(dead(su, p) for p in kept[:12])
        left = su.execute("select count(*) from odl.tool_call_traces where tenant_id = %s",
                          (tenant_id,)).fetchone()[0]
    ctx.log(f"DELETE {deleting.seconds:.3f} s ({deleted_dead:,} dead), VACUUM {vacuuming.seconds:.3f} s, "
            f"drop {dropping.seconds:.3f} s")
    assert gone and left == 12 * ROWS, (gone, left)
    return Section(
        compared=(
            f"Removing the oldest month ({in_oldest:,} spans) of 13 months of tool-call traces: a DELETE of its rows "
            "against `odl.trace_maintenance()` dropping its partition (pg_partman)."
        ),
        method=__doc__.split("\n\n", 1)[1],
        rows=[
            Row("time to remove the month: DELETE alone against the drop", "ms", deleting.seconds * 1000,
                dropping.seconds * 1000, dropping.seconds / deleting.seconds),
            Row("time to remove the month and free its space: DELETE + VACUUM against the drop", "ms",
                (deleting.seconds + vacuuming.seconds) * 1000, dropping.seconds * 1000,
                dropping.seconds / (deleting.seconds + vacuuming.seconds)),
            Row("time to drop the month (goal < 1 s; ratio column: seconds)", "ms", deleting.seconds * 1000,
                dropping.seconds * 1000, dropping.seconds, goal=1.0),
            Row("dead tuples left (goal 0; ratio column: the candidate's count)", "count", float(deleted_dead),
                float(kept_dead), float(kept_dead), goal=0.0),
        ],
        notes=(
            f"{13 * ROWS:,} spans in 13 monthly partitions; after the drop {left:,} remain in the 12 months kept, "
            f"with {kept_dead} dead tuples among them; the DELETE left {deleted_dead:,}."
        ),
        baseline_name="DELETE",
        candidate_name="drop partition",
    )
