"""How AI sessions end and what is kept: a closed or expired session takes
nothing more but can still be read; retention drops whole months of
messages (no dead tuple in the months kept, where a DELETE leaves one per
message) with the sessions that began in them; the CAG purge deletes only
expired and invalidated entries, a batch at a time, and never a valid one."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import server_conninfo
from test_cag import GET, PUT, new_project_doc, request

APPEND = "select odl.odl_ai_append_message(%s, %s, %s, %s, %s, %s)"


def app_session(dbname: str, tenant_id: str, user_id: str) -> psycopg.Connection:
    conn = psycopg.connect(server_conninfo(dbname=dbname, user="odl_app"))
    conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
    return conn


def failure(conn: psycopg.Connection, query: str, params: tuple) -> tuple[str, str] | None:
    try:
        with conn.transaction():
            conn.execute(query, params)
    except psycopg.Error as error:
        return error.sqlstate, error.diag.message_primary
    return None


@pytest.fixture
def project(dbname, tenant, access) -> str:
    access.assign("engineer")
    with app_session(dbname, *tenant) as conn:
        project_id = conn.execute("select odl.odl_create_project(%s)", (f"ai-{uuid.uuid4().hex[:8]}",)).fetchone()[0]
    access.attach(project_id)
    return project_id


def test_a_closed_session_takes_nothing_more_but_stays_readable(dbname, tenant, project):
    tenant_id, user_id = tenant
    with app_session(dbname, *tenant) as conn:
        session = conn.execute("select odl.odl_ai_open_session(%s, 'sys', 2)", (project,)).fetchone()[0]
        conn.execute(APPEND, (session, "user", "size it", 3, None, None))
        conn.execute(APPEND, (session, "assistant", "done", 1, None, None))
        conn.execute(APPEND, (session, "user", "thanks", 1, None, None))
        closed = conn.execute("select odl.odl_ai_close_session(%s)", (session,)).fetchone()[0]
        conn.commit()
        conn.execute("select odl.odl_set_context(%s, %s)", tenant)
        # A retry of the close returns the first close's time.
        assert conn.execute("select odl.odl_ai_close_session(%s)", (session,)).fetchone()[0] == closed
        assert failure(conn, APPEND, (session, "assistant", "more", 1, None, None)) == (
            "ODJ01", "AI session is closed")
        assert failure(conn, "select odl.odl_ai_store_summary(%s, 3, 'sum', 1)", (session,))[0] == "ODJ01"
        assert [r[0] for r in conn.execute("select seq from odl.odl_ai_messages(%s)", (session,))] == [1, 2, 3, 4]
        assert conn.execute("select count(*) from odl.odl_ai_context(%s, 100)", (session,)).fetchone() == (4,)
        conn.commit()
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        assert su.execute(
            "select closed_reason, message_count from odl.ai_sessions where session_id = %s", (session,)
        ).fetchone() == ("closed", 4)
        assert su.execute(
            "select count(*) from odl.audit_events where tenant_id = %s and action = 'ai.session.closed'"
            " and payload ->> 'session_id' = %s",
            (tenant_id, session),
        ).fetchone() == (1,)


def test_another_user_cannot_close_a_session(dbname, tenant, access, project):
    with app_session(dbname, *tenant) as conn:
        session = conn.execute("select odl.odl_ai_open_session(%s)", (project,)).fetchone()[0]
        conn.commit()
    other = access.create_user("engineer")
    access.assign("engineer", other)
    with app_session(dbname, tenant[0], other) as conn:
        assert failure(conn, "select odl.odl_ai_close_session(%s)", (session,))[0] == "ODI01"


def test_a_session_past_its_maximum_age_expires(dbname, tenant, project):
    with app_session(dbname, *tenant) as conn:
        session = conn.execute("select odl.odl_ai_open_session(%s, 'sys', 2)", (project,)).fetchone()[0]
        conn.execute(APPEND, (session, "user", "hello", 1, None, None))
        conn.commit()
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        su.execute("update odl.ai_sessions set created_at = created_at - interval '25 hours' where session_id = %s",
                   (session,))
    with app_session(dbname, *tenant) as conn:
        assert failure(conn, APPEND, (session, "assistant", "hi", 1, None, None)) == (
            "ODJ01", "AI session has expired")
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        expired = su.execute("select expired_sessions from odl.ai_retention()").fetchone()[0]
        assert expired >= 1
        assert su.execute("select closed_reason from odl.ai_sessions where session_id = %s",
                          (session,)).fetchone() == ("expired",)
        assert su.execute(
            "select payload ->> 'sessions' from odl.audit_events where tenant_id = %s"
            " and action = 'ai.sessions.expired'", (tenant[0],)
        ).fetchone() == ("1",)
        with pytest.raises(psycopg.Error) as refused:
            su.execute("set role odl_owner; select odl.ai_retention()")
        assert refused.value.sqlstate == "42501"


def month_start(back: int) -> datetime:
    now = datetime.now(timezone.utc)
    y, m = divmod(now.month - 1 - back, 12)
    return datetime(now.year + y, m + 1, 1, tzinfo=timezone.utc)


def test_retention_drops_whole_months_and_the_sessions_that_began_in_them(dbname, tenant, project):
    """13 months of sessions (ten a month, 300 messages each) and one that
    began on the last evening of each month and went on into the next; the
    oldest month is dropped."""
    tenant_id, user_id = tenant
    per_month = 300
    daily = 10  # sessions a month, one a day from the 1st
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        su.execute("set stats_fetch_consistency = none")
        starts = [month_start(back) for back in range(12, -1, -1)]
        su.execute(
            "select partman.create_partition_time('odl.ai_messages', %s::timestamptz[])", (starts,)
        )
        su.execute("call odl.ai_maintenance()")
        sessions: dict[str, datetime] = {}
        for start in starts[:-1]:
            evening = month_start_next(start) - timedelta(hours=1)
            for opened, count in [(start + timedelta(days=day), per_month) for day in range(daily)] + [(evening, 4)]:
                sid = su.execute("select odl.odl_ulid()").fetchone()[0]
                sessions[sid] = opened
                su.execute(
                    "insert into odl.ai_sessions (tenant_id, session_id, project_id, user_id, created_at,"
                    " message_count, last_user_seq, closed_at, closed_reason)"
                    " values (%s, %s, %s, %s, %s, %s, %s, %s, 'closed')",
                    (tenant_id, sid, project, user_id, opened, count, count, opened + timedelta(hours=3)),
                )
                # 30 minutes apart: the evening session's last messages fall
                # into the next month.
                su.execute(
                    "insert into odl.ai_messages (tenant_id, session_id, seq, created_at, role, content, tokens)"
                    " select %s, %s, g, %s::timestamptz + g * interval '30 minutes',"
                    " case when g %% 2 = 1 then 'user' else 'assistant' end, repeat('x', 200), 50"
                    " from generate_series(1, %s) as g",
                    (tenant_id, sid, opened, count),
                )
        parts = partitions(su)
        assert len(parts) >= 13
        oldest = parts[0]
        assert count_in(su, oldest) > 0

        # Baseline: DELETE a month's messages in a copy of its partition.
        su.execute(f"create table pg_temp.month_copy as select * from {oldest}")
        started = time.perf_counter()
        su.execute("delete from pg_temp.month_copy")
        deleting = time.perf_counter() - started
        assert dead(su, "pg_temp.month_copy") >= daily * per_month

        started = time.perf_counter()
        # Kept: everything since the second month began.
        keep = datetime.now(timezone.utc) - starts[1]
        result = su.execute("select * from odl.ai_retention(%s)", (keep,)).fetchone()
        dropping = time.perf_counter() - started
        assert dropping < 1.0, f"retention took {dropping:.3f} s (DELETE of a month: {deleting:.3f} s)"
        assert result[1] == 1
        assert su.execute("select to_regclass(%s)", (oldest,)).fetchone() == (None,)
        boundary = starts[1]
        kept = {sid for sid, opened in sessions.items() if opened >= boundary}
        assert result[2] == len(sessions) - len(kept)
        remaining = {r[0] for r in su.execute(
            "select session_id from odl.ai_sessions where tenant_id = %s", (tenant_id,))}
        assert remaining == kept
        # No message outlives its session, and every kept session is whole.
        counts = dict(su.execute(
            "select session_id, count(*) from odl.ai_messages where tenant_id = %s group by 1", (tenant_id,)
        ).fetchall())
        assert set(counts) == kept
        assert all(counts[sid] == (per_month if sessions[sid].hour == 0 else 4) for sid in kept)
        # The months kept hold no dead tuple but the three messages the last
        # deleted session (opened at 23:00, a message every 30 minutes) left
        # in the next month.
        later = partitions(su)
        assert dead(su, later[0]) == 3
        assert all(dead(su, p) == 0 for p in later[1:11])
        assert su.execute(
            "select payload ->> 'sessions' from odl.audit_events where tenant_id = %s"
            " and action = 'ai.sessions.deleted'", (tenant_id,)
        ).fetchone() == (str(len(sessions) - len(kept)),)


def month_start_next(start: datetime) -> datetime:
    y, m = divmod(start.month, 12)
    return start.replace(year=start.year + y, month=m + 1)


def partitions(su: psycopg.Connection) -> list[str]:
    return [r[0] for r in su.execute(
        """
        select c.oid::regclass::text
        from pg_inherits as i inner join pg_class as c on i.inhrelid = c.oid
        where i.inhparent = 'odl.ai_messages'::regclass and c.relname <> 'ai_messages_default'
        order by c.relname
        """
    ).fetchall()]


def count_in(su: psycopg.Connection, table: str) -> int:
    return su.execute(f"select count(*) from {table}").fetchone()[0]


def dead(su: psycopg.Connection, table: str) -> int:
    su.execute("select pg_stat_force_next_flush()")
    time.sleep(0.05)
    su.execute("select pg_stat_clear_snapshot()")
    return su.execute("select n_dead_tup from pg_stat_user_tables where relid = %s::regclass", (table,)).fetchone()[0]


def test_the_purge_deletes_expired_and_invalidated_entries_in_batches_and_no_valid_one(
        dbname, tenant, access):
    access.assign("super_user")
    project, doc = new_project_doc(dbname, tenant, access)
    on = Jsonb([{"doc_id": doc, "pointer": "/meta", "version": 1}])
    with app_session(dbname, *tenant) as conn:
        for n in range(30):
            conn.execute(PUT, (*request(project, f"q{n}"), f"a{n}", on))
        conn.commit()
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        # 10 expired, 10 invalidated, 10 valid.
        su.execute(
            "update odl.cag_entries set expires_at = now() - interval '1 second'"
            " where tenant_id = %s and response = any(%s)", (tenant[0], [f"a{n}" for n in range(10)]))
        su.execute(
            "update odl.cag_entries set invalidated_at = now()"
            " where tenant_id = %s and response = any(%s)", (tenant[0], [f"a{n}" for n in range(10, 20)]))
        with pytest.raises(psycopg.Error) as bad:
            su.execute("select odl.cag_purge(0)")
        assert bad.value.sqlstate == "22023"
        batches = []
        while True:
            purged = su.execute("select odl.cag_purge(7)").fetchone()[0]
            batches.append(purged)
            if purged < 7:
                break
        mine = sum(batches)
        assert mine >= 20 and all(b <= 7 for b in batches)
        left = {r[0] for r in su.execute("select response from odl.cag_entries where tenant_id = %s", (tenant[0],))}
        assert left == {f"a{n}" for n in range(20, 30)}
        assert su.execute(
            "select count(*) from odl.cag_dependencies where tenant_id = %s", (tenant[0],)
        ).fetchone() == (10,)
    with app_session(dbname, *tenant) as conn:
        assert conn.execute(GET, request(project, "q25")).fetchone()[0] is True
        assert conn.execute(GET, request(project, "q5")).fetchone()[3] == "absent"
