"""Tool-call traces (issue 13): each span charged once, the cost view equal
to the PSU ledger, and retention that drops a whole month in under a
second without a dead tuple, where DELETE leaves one per row."""

from __future__ import annotations

import random
import secrets
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from conftest import TenantAccess, server_conninfo


def span() -> tuple[str, str]:
    return secrets.token_hex(16), secrets.token_hex(8)


@pytest.fixture
def metered(dbname, access) -> TenantAccess:
    """A tenant with a budget of 10,000 PSU, its administrator a super_user."""
    access.assign("super_user", access.admin_id)
    with access.session(access.admin_id) as conn:
        conn.execute("select odl.odl_psu_grant(10000)")
    return access


def record(conn, trace_id, span_id, tool, psu=0, start=None, seconds=0.2, **extra) -> None:
    start = start or datetime.now(timezone.utc)
    conn.execute(
        """
        select odl.odl_record_tool_call(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (trace_id, span_id, tool, start, start + timedelta(seconds=seconds), psu,
         extra.get("input_tokens"), extra.get("output_tokens"), extra.get("model"), extra.get("provider"),
         extra.get("error_type")),
    )


def test_a_span_is_charged_once_however_often_it_is_recorded(metered, dbname):
    trace_id, span_id = span()
    start = datetime.now(timezone.utc)
    for _ in range(3):
        with metered.session(metered.user_id) as conn:
            record(conn, trace_id, span_id, "monte_carlo", psu=7, start=start, input_tokens=120, output_tokens=40,
                   model="gpt-x", provider="openai")
            conn.commit()
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        assert su.execute(
            "select count(*), sum(consumed_delta) from odl.psu_ledger where tenant_id = %s and idempotency_key = %s",
            (metered.tenant_id, f"trace:{trace_id}:{span_id}"),
        ).fetchone() == (1, 7)
        assert su.execute(
            """
            select gen_ai_operation_name, gen_ai_tool_name, gen_ai_usage_input_tokens, gen_ai_usage_output_tokens,
                   gen_ai_request_model, gen_ai_provider_name, odl_psu_entry_id is not null
            from odl.tool_call_traces where tenant_id = %s and span_id = %s
            """,
            (metered.tenant_id, span_id),
        ).fetchall() == [("execute_tool", "monte_carlo", 120, 40, "gpt-x", "openai", True)]


def test_a_span_over_the_budget_is_refused_and_not_recorded(metered, dbname):
    with metered.session(metered.admin_id) as conn:
        conn.execute("select odl.odl_psu_grant(5, %s)", (metered.user_id,))
        conn.commit()
    trace_id, span_id = span()
    with metered.session(metered.user_id) as conn, pytest.raises(psycopg.Error) as refused:
        record(conn, trace_id, span_id, "grid_study", psu=6)
    assert refused.value.sqlstate == "ODM01"
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        assert su.execute("select count(*) from odl.tool_call_traces where span_id = %s", (span_id,)).fetchone() == (0,)


def test_malformed_spans_are_refused(metered):
    with metered.session(metered.user_id) as conn:
        for trace_id, span_id, seconds in [("X" * 32, "a" * 16, 1), ("a" * 32, "b" * 15, 1), ("a" * 32, "b" * 16, -1)]:
            with pytest.raises(psycopg.Error) as bad, conn.transaction():
                record(conn, trace_id, span_id, "t", seconds=seconds)
            assert bad.value.sqlstate == "22023"


def test_the_cost_view_reconciles_with_the_psu_ledger(metered, dbname, connect):
    rng = random.Random(13)
    other = metered.create_user("engineer")
    now = datetime.now(timezone.utc)
    sessions = {user: metered.session(user) for user in (metered.user_id, other)}
    for n in range(150):
        user = rng.choice(list(sessions))
        conn = sessions[user]
        conn.execute("select odl.odl_set_context(%s, %s)", (metered.tenant_id, user))
        trace_id, span_id = span()
        record(conn, trace_id, span_id, rng.choice(["monte_carlo", "irradiance", "short_circuit"]),
               psu=rng.choice([0, 1, 3, 12]), start=now - timedelta(days=rng.randint(0, 200), minutes=n),
               seconds=rng.uniform(0.01, 3), input_tokens=rng.randint(0, 900), output_tokens=rng.randint(0, 300),
               error_type=rng.choice([None, None, None, "timeout"]))
        conn.commit()
    for conn in sessions.values():
        conn.close()
    login = f"ana_{uuid.uuid4().hex[:6]}"
    su = connect()
    su.autocommit = True
    su.execute(f"create role {login} login in role odl_analyst")
    try:
        with metered.session(metered.admin_id) as conn:
            conn.execute("select odl.odl_bind_login(%s, %s)", (login, metered.admin_id))
            conn.commit()
        with psycopg.connect(server_conninfo(dbname=dbname, user=login)) as ana:
            ana.execute("select odl.odl_set_context(%s, %s)", (metered.tenant_id, metered.admin_id))
            view = dict(ana.execute(
                "select tool || '/' || user_email, sum(psu)::bigint from odl.analyst_tool_costs group by 1"
            ).fetchall())
            calls = ana.execute("select sum(calls)::int from odl.analyst_tool_costs").fetchone()[0]
            p95 = ana.execute(
                "select bool_and(latency_p95_ms >= latency_p50_ms) from odl.analyst_tool_costs"
            ).fetchone()[0]
        ledger = dict(su.execute(
            """
            select l.tool || '/' || u.email, sum(l.consumed_delta)::bigint
            from odl.psu_ledger as l
            inner join odl.users as u on l.tenant_id = u.tenant_id and l.user_id = u.user_id
            where l.tenant_id = %s and l.idempotency_key like 'trace:%%'
            group by 1
            """,
            (metered.tenant_id,),
        ).fetchall())
        assert {k: v for k, v in view.items() if v} == ledger
        assert sum(ledger.values()) > 0
        assert calls == 150
        assert p95
    finally:
        su.execute(f"drop owned by {login}")
        su.execute(f"drop role {login}")


def test_retention_drops_a_whole_month_without_dead_tuples_where_delete_leaves_them(dbname, tenant):
    """13 months of traces: DELETE of the oldest month (the baseline, rolled
    back) against trace_maintenance() dropping its partition."""
    tenant_id, user_id = tenant
    month = datetime.now(timezone.utc).replace(day=15, hour=12, minute=0, second=0, microsecond=0)
    months = []
    for back in range(12, -1, -1):
        y, m = divmod(month.month - 1 - back, 12)
        months.append(month.replace(year=month.year + y, month=m + 1))
    rows_per_month = 2000
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        su.execute("set stats_fetch_consistency = none")
        for start in months:
            su.execute(
                """
                insert into odl.tool_call_traces (tenant_id, span_id, start_time, end_time, trace_id, user_id,
                                                  gen_ai_tool_name)
                select %s, lpad(to_hex(g), 16, '0'), %s::timestamptz + g * interval '1 second',
                       %s::timestamptz + g * interval '1 second' + interval '200 ms', repeat('a', 32), %s, 'sim'
                from generate_series(1, %s) as g
                """,
                (tenant_id, start, start, user_id, rows_per_month),
            )
        oldest = su.execute(
            """
            select c.oid::regclass::text
            from pg_inherits as i inner join pg_class as c on i.inhrelid = c.oid
            where i.inhparent = 'odl.tool_call_traces'::regclass and c.relname <> 'tool_call_traces_default'
            order by c.relname limit 1
            """
        ).fetchone()[0]
        assert su.execute(f"select count(*) from {oldest} where tenant_id = %s", (tenant_id,)).fetchone() \
            == (rows_per_month,)

        def dead(table: str) -> int:
            su.execute("select pg_stat_force_next_flush()")
            time.sleep(0.05)
            su.execute("select pg_stat_clear_snapshot()")
            return su.execute("select n_dead_tup from pg_stat_user_tables where relid = %s::regclass",
                              (table,)).fetchone()[0]

        # Baseline: DELETE the month (committed in a copy of the partition,
        # which it leaves full of dead tuples).
        su.execute(f"create table pg_temp.month_copy as select * from {oldest}")
        started = time.perf_counter()
        su.execute("delete from pg_temp.month_copy")
        deleting = time.perf_counter() - started
        assert dead("pg_temp.month_copy") >= rows_per_month

        started = time.perf_counter()
        su.execute("call odl.trace_maintenance('11 months')")
        dropping = time.perf_counter() - started
        assert su.execute("select to_regclass(%s)", (oldest,)).fetchone() == (None,)
        assert dropping < 1.0, f"dropping a month took {dropping:.3f} s (DELETE: {deleting:.3f} s)"
        assert su.execute(
            "select count(*) from odl.tool_call_traces where tenant_id = %s", (tenant_id,)
        ).fetchone() == (12 * rows_per_month,)
        kept = [r[0] for r in su.execute(
            """
            select c.oid::regclass::text
            from pg_inherits as i inner join pg_class as c on i.inhrelid = c.oid
            where i.inhparent = 'odl.tool_call_traces'::regclass and c.relname <> 'tool_call_traces_default'
                and c.relname < to_char(now(), '"tool_call_traces_p"YYYY_MM')
            """
        ).fetchall()]
        assert len(kept) == 11
        assert all(dead(t) == 0 for t in kept)
        assert all(owner == "odl_owner" for (owner,) in su.execute(
            """
            select c.relowner::regrole::text from pg_inherits as i inner join pg_class as c on i.inhrelid = c.oid
            where i.inhparent = 'odl.tool_call_traces'::regclass
            """
        ).fetchall())
