"""AI sessions through the API: the tool-call protocol that appends enforce,
summaries that never cover the current turn nor end inside a tool call,
sessions private to their user, and odl_ai_context() on thousands of random
sessions: within the budget every time, the system message and the current
turn always there, a tool call never without its results, the summary only
in place of what it covers, and exactly what a reference in Python keeps."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from conftest import server_conninfo


def app_session(dbname: str, tenant_id: str, user_id: str) -> psycopg.Connection:
    conn = psycopg.connect(server_conninfo(dbname=dbname, user="odl_app"))
    conn.execute("select odl.odl_set_context(%s, %s)", (tenant_id, user_id))
    return conn


@pytest.fixture
def project(dbname, tenant, access) -> str:
    """A project under the tenant's PORTFOLIO, where the tenant's user is an engineer."""
    access.assign("engineer")
    with app_session(dbname, *tenant) as conn:
        project_id = conn.execute("select odl.odl_create_project(%s)", (f"ai-{uuid.uuid4().hex[:8]}",)).fetchone()[0]
    access.attach(project_id)
    return project_id


def sqlstate_of(conn: psycopg.Connection, query: str, params: tuple) -> str | None:
    try:
        with conn.transaction():
            conn.execute(query, params)
    except psycopg.Error as error:
        return error.sqlstate
    return None


def test_appends_follow_the_tool_call_protocol_and_are_audited(dbname, tenant, project):
    with app_session(dbname, *tenant) as conn:
        session = conn.execute(
            "select odl.odl_ai_open_session(%s, 'You design PV plants.', 6, 'layout')", (project,)
        ).fetchone()[0]
        append = "select odl.odl_ai_append_message(%s, %s, %s, %s, %s, %s)"
        assert conn.execute(append, (session, "user", "Size the inverters", 5, None, None)).fetchone()[0] == 2
        calls = Jsonb([{"id": "c1", "name": "sizing"}, {"id": "c2", "name": "yield"}])
        assert conn.execute(append, (session, "assistant", "", 12, calls, None)).fetchone()[0] == 3
        # While calls are pending only their results may come, each once.
        assert sqlstate_of(conn, append, (session, "user", "hurry", 1, None, None)) == "ODI03"
        assert sqlstate_of(conn, append, (session, "tool", "{}", 3, None, "c9")) == "ODI03"
        assert conn.execute(append, (session, "tool", '{"kva": 100}', 4, None, "c2")).fetchone()[0] == 4
        assert sqlstate_of(conn, append, (session, "tool", "{}", 3, None, "c2")) == "ODI03"
        assert conn.execute(append, (session, "tool", '{"mwh": 1}', 4, None, "c1")).fetchone()[0] == 5
        assert sqlstate_of(conn, append, (session, "tool", "{}", 3, None, "c1")) == "ODI03"
        # Malformed messages.
        assert sqlstate_of(conn, append, (session, "system", "late", 1, None, None)) == "ODI02"
        assert sqlstate_of(conn, append, (session, "critic", "x", 1, None, None)) == "ODI02"
        assert sqlstate_of(conn, append, (session, "user", "x", -1, None, None)) == "ODI02"
        assert sqlstate_of(conn, append, (session, "user", "x", None, None, None)) == "ODI02"
        assert sqlstate_of(conn, append, (session, "user", "x", 1, calls, None)) == "ODI02"
        assert sqlstate_of(conn, append, (session, "assistant", "", 1, Jsonb([{"id": "a"}, {"id": "a"}]), None)) == "ODI02"
        assert sqlstate_of(conn, append, (session, "assistant", "", 1, Jsonb([{"name": "x"}]), None)) == "ODI02"
        assert sqlstate_of(conn, append, (session, "assistant", "", 1, None, "c1")) == "ODI02"
        assert conn.execute(append, (session, "assistant", "100 kVA", 3, None, None)).fetchone()[0] == 6
        rows = conn.execute(
            "select seq, role, tokens, tool_call_id from odl.odl_ai_messages(%s)", (session,)
        ).fetchall()
        conn.commit()
    assert rows == [
        (1, "system", 6, None), (2, "user", 5, None), (3, "assistant", 12, None), (4, "tool", 4, "c2"),
        (5, "tool", 4, "c1"), (6, "assistant", 3, None),
    ]
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        stored = su.execute(
            "select seq, call_seq from odl.ai_messages where session_id = %s and role = 'tool' order by seq",
            (session,),
        ).fetchall()
        assert stored == [(4, 3), (5, 3)]
        actions = su.execute(
            "select action, count(*) from odl.audit_events where tenant_id = %s and action like 'ai.%%' group by 1",
            (tenant[0],),
        ).fetchall()
        assert dict(actions) == {"ai.session.opened": 1, "ai.message.appended": 5}
        payload = su.execute(
            "select payload::text from odl.audit_events where tenant_id = %s and action = 'ai.message.appended' "
            "order by seq limit 1",
            (tenant[0],),
        ).fetchone()[0]
        assert "Size the inverters" not in payload and "content_sha256" in payload


def test_a_summary_ends_before_the_current_turn_and_outside_tool_calls(dbname, tenant, project):
    with app_session(dbname, *tenant) as conn:
        session = conn.execute("select odl.odl_ai_open_session(%s, 'sys', 2)", (project,)).fetchone()[0]
        append = "select odl.odl_ai_append_message(%s, %s, %s, %s, %s, %s)"
        conn.execute(append, (session, "user", "a", 10, None, None))  # 2
        conn.execute(append, (session, "assistant", "", 10, Jsonb([{"id": "x"}]), None))  # 3
        conn.execute(append, (session, "tool", "r", 10, None, "x"))  # 4
        conn.execute(append, (session, "assistant", "b", 10, None, None))  # 5
        conn.execute(append, (session, "user", "c", 10, None, None))  # 6
        store = "select odl.odl_ai_store_summary(%s, %s, %s, %s)"
        assert sqlstate_of(conn, store, (session, 3, "s", 3)) == "ODI04"  # inside the call of 3
        assert sqlstate_of(conn, store, (session, 6, "s", 3)) == "ODI04"  # covers the current turn
        assert sqlstate_of(conn, store, (session, 1, "s", 3)) == "ODI04"  # the system message
        assert sqlstate_of(conn, store, (session, 5, "", 3)) == "ODI04"
        assert sqlstate_of(conn, store, (session, 5, "s", -3)) == "ODI04"
        conn.execute(store, (session, 4, "a, then a tool ran", 3))
        context = "select seq, role, is_summary, tokens from odl.odl_ai_context(%s, %s)"
        # Everything fits: no summary.
        assert [r[0] for r in conn.execute(context, (session, 52)).fetchall()] == [1, 2, 3, 4, 5, 6]
        # 51: the prefix goes; the summary (3) replaces 2..4 and 5 fits.
        assert conn.execute(context, (session, 51)).fetchall() == [
            (1, "system", False, 2), (None, "system", True, 3), (5, "assistant", False, 10), (6, "user", False, 10)
        ]
        # 14: only the system message, the summary and the current turn.
        assert [r[0] for r in conn.execute(context, (session, 15)).fetchall()] == [1, None, 6]
        # 12: no room for the summary either.
        assert [r[0] for r in conn.execute(context, (session, 12)).fetchall()] == [1, 6]
        assert sqlstate_of(conn, context, (session, 11)) == "ODI05"
        assert sqlstate_of(conn, context, (session, -1)) == "22023"
        conn.commit()


def test_a_session_is_its_users_alone(dbname, tenant, access, project):
    other = access.create_user("engineer")
    access.assign("engineer", other)
    with app_session(dbname, *tenant) as conn:
        session = conn.execute("select odl.odl_ai_open_session(%s)", (project,)).fetchone()[0]
        conn.commit()
    with app_session(dbname, tenant[0], other) as conn:
        for query, params in (
            ("select * from odl.odl_ai_context(%s, 100)", (session,)),
            ("select odl.odl_ai_append_message(%s, 'user', 'hi', 1)", (session,)),
            ("select * from odl.odl_ai_messages(%s)", (session,)),
        ):
            assert sqlstate_of(conn, query, params) == "ODI01"
    stranger = access.create_user("engineer")  # no role: may not read the project
    with app_session(dbname, tenant[0], stranger) as conn:
        assert sqlstate_of(conn, "select odl.odl_ai_open_session(%s)", (project,)) == "ODR01"


# Context assembly on random sessions, stored directly (the API's appends
# are the tests above), then assembled by odl_ai_context().


@dataclass
class Message:
    seq: int
    role: str
    tokens: int
    call_seq: int | None = None
    tool_call_id: str | None = None
    tool_calls: list[dict] | None = None


@dataclass
class Session:
    messages: list[Message] = field(default_factory=list)
    summary: tuple[int, int] | None = None  # (through_seq, tokens)
    pending: list[str] = field(default_factory=list)

    def add(self, role: str, tokens: int, **extra) -> Message:
        message = Message(len(self.messages) + 1, role, tokens, **extra)
        self.messages.append(message)
        return message

    @property
    def last_user(self) -> int | None:
        return max((m.seq for m in self.messages if m.role == "user"), default=None)


tokens = st.integers(min_value=0, max_value=60)


@st.composite
def sessions(draw) -> Session:
    session = Session()
    if draw(st.booleans()):
        session.add("system", draw(tokens))
    if draw(st.integers(0, 4)) == 0:
        session.add("assistant", draw(tokens))  # a greeting before any user message
    turns = draw(st.integers(0, 7))
    for turn in range(turns):
        session.add("user", draw(tokens))
        for _ in range(draw(st.integers(0, 3))):
            calls = draw(st.integers(0, 3))
            if calls == 0:
                session.add("assistant", draw(tokens))
                continue
            ids = [f"call{len(session.messages)}_{i}" for i in range(calls)]
            caller = session.add("assistant", draw(tokens), tool_calls=[{"id": i} for i in ids])
            answered = calls if turn < turns - 1 else draw(st.integers(0, calls))
            order = draw(st.permutations(ids))
            for call_id in order[:answered]:
                session.add("tool", draw(tokens), call_seq=caller.seq, tool_call_id=call_id)
            if answered < calls:
                session.pending = list(order[answered:])
                break
        if session.pending:
            break
    # A summary may end after any message before the current turn whose
    # next message is no tool result.
    last_user = session.last_user
    first = next((m.seq for m in session.messages if m.role != "system"), None)
    ends = [
        m.seq for m in session.messages
        if last_user is not None and first is not None and first <= m.seq < last_user
        and session.messages[m.seq].role != "tool"
    ]
    if ends and draw(st.booleans()):
        session.summary = (draw(st.sampled_from(ends)), draw(tokens))
    return session


def reference(session: Session, budget: int) -> list[int | None] | str:
    """What odl_ai_context() must return, as seqs (None: the summary)."""
    system = [m for m in session.messages if m.seq == 1 and m.role == "system"]
    turn_from = session.last_user or len(session.messages) + 1
    turn = [m for m in session.messages if m.seq >= turn_from]
    middle = [m for m in session.messages if m.role != "system" and m.seq < turn_from]
    fixed = sum(m.tokens for m in system + turn)
    if fixed > budget:
        return "ODI05"
    if fixed + sum(m.tokens for m in middle) <= budget:
        return [m.seq for m in session.messages]
    use_summary = session.summary is not None and fixed + session.summary[1] <= budget
    room = budget - fixed - (session.summary[1] if use_summary else 0)
    units: dict[int, int] = {}
    for m in middle:
        if not use_summary or m.seq > session.summary[0]:
            unit = m.call_seq or m.seq
            units[unit] = units.get(unit, 0) + m.tokens
    keep_from, running = turn_from, 0
    for unit in sorted(units, reverse=True):
        running += units[unit]
        if running > room:
            break
        keep_from = unit
    return [m.seq for m in system] + ([None] if use_summary else []) + [
        m.seq for m in session.messages if m.role != "system" and m.seq >= keep_from
    ]


def check_invariants(session: Session, budget: int, rows: list[tuple]) -> None:
    by_seq = {m.seq: m for m in session.messages}
    sent = [r[0] for r in rows if not r[2]]
    assert sum(r[1] for r in rows) <= budget
    if session.messages and session.messages[0].role == "system":
        assert rows[0][0] == 1 and not rows[0][2]
    turn_from = session.last_user or len(session.messages) + 1
    assert set(range(turn_from, len(session.messages) + 1)) <= set(sent)
    assert sent == sorted(sent)
    for seq in sent:
        message = by_seq[seq]
        if message.role == "tool":
            assert message.call_seq in sent
        if message.tool_calls:
            assert {m.seq for m in session.messages if m.call_seq == seq} <= set(sent)
    summaries = [r for r in rows if r[2]]
    assert len(summaries) <= 1
    if summaries:
        assert session.summary is not None and summaries[0][1] == session.summary[1]
        assert all(seq > session.summary[0] for seq in sent if seq != 1)
        assert len(sent) < len(session.messages)


def spread(session: Session, raw: int) -> list[int]:
    """A budget from a random number: for odd numbers anywhere from 0 to a
    little above everything; for even ones where something must be pruned
    but the system message and the current turn fit."""
    total = sum(m.tokens for m in session.messages)
    turn_from = session.last_user or len(session.messages) + 1
    fixed = sum(m.tokens for m in session.messages if m.seq >= turn_from or m.role == "system")
    return [raw % (total + 21) if raw % 2 else fixed + raw % (total - fixed + 1)]


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid() -> str:
    """A random id in the ULID format (odl.ulid), made without a round trip."""
    bits = uuid.uuid4().int >> 2
    return "".join(CROCKFORD[(bits >> (5 * i)) & 31] for i in range(26))[::-1]


SESSIONS_PER_EXAMPLE = 20


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(st.tuples(sessions(), st.integers(0, 10_000)),
                      min_size=SESSIONS_PER_EXAMPLE, max_size=SESSIONS_PER_EXAMPLE))
def test_context_stays_within_budget_and_keeps_what_it_must(dbname, tenant, project, batch):
    tenant_id, user_id = tenant
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        su.execute("select odl.odl_set_context(%s, %s)", tenant)
        ids = [ulid() for _ in batch]
        with su.cursor() as cur:
            cur.executemany(
                "insert into odl.ai_sessions (tenant_id, session_id, project_id, user_id, message_count, "
                "last_user_seq, pending_call_seq, pending_tool_calls, summary, summary_tokens, summary_through_seq, "
                "summary_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, case when %s then now() end)",
                [
                    (
                        tenant_id, sid, project, user_id, len(s.messages), s.last_user,
                        s.messages[-1].call_seq or s.messages[-1].seq if s.pending else None, s.pending,
                        "summary" if s.summary else None, s.summary[1] if s.summary else None,
                        s.summary[0] if s.summary else None, s.summary is not None,
                    )
                    for sid, (s, _) in zip(ids, batch)
                ],
            )
            with cur.copy(
                "copy odl.ai_messages (tenant_id, session_id, seq, role, content, tokens, tool_calls, tool_call_id, "
                "call_seq) from stdin"
            ) as copy:
                for sid, (s, _) in zip(ids, batch):
                    for m in s.messages:
                        copy.write_row((
                            tenant_id, sid, m.seq, m.role, f"m{m.seq}", m.tokens,
                            Jsonb(m.tool_calls) if m.tool_calls else None, m.tool_call_id, m.call_seq,
                        ))
        # One statement assembles every context that must fit; each budget
        # that the reference says cannot fit is tried on its own.
        fits = [
            (sid, budget, s) for sid, (s, budgets) in zip(ids, batch)
            for budget in spread(s, budgets) if reference(s, budget) != "ODI05"
        ]
        rows = su.execute(
            "select x.n, c.seq, c.tokens, c.is_summary from unnest(%s::text[], %s::integer[]) with ordinality "
            "as x (sid, budget, n) cross join lateral odl.odl_ai_context(x.sid, x.budget) with ordinality "
            "as c (seq, role, content, tokens, tool_calls, tool_call_id, is_summary, k) order by x.n, c.k",
            ([f[0] for f in fits], [f[1] for f in fits]),
        ).fetchall()
        contexts: dict[int, list[tuple]] = {}
        for n, seq, count, is_summary in rows:
            contexts.setdefault(n - 1, []).append((seq, count, is_summary))
        for n, (_, budget, s) in enumerate(fits):
            check_invariants(s, budget, contexts.get(n, []))
            assert [None if r[2] else r[0] for r in contexts.get(n, [])] == reference(s, budget), (s, budget)
        for sid, (s, budgets) in zip(ids, batch):
            over = [b for b in spread(s, budgets) if reference(s, b) == "ODI05"]
            if over:
                with pytest.raises(psycopg.Error) as raised, su.transaction():
                    su.execute("select * from odl.odl_ai_context(%s, %s)", (sid, over[0]))
                assert raised.value.sqlstate == "ODI05"
        su.rollback()


def test_analysts_see_counts_and_tokens_never_content(dbname, tenant, project):
    with app_session(dbname, *tenant) as conn:
        session = conn.execute("select odl.odl_ai_open_session(%s, 'secret system prompt', 4)", (project,)).fetchone()[0]
        conn.execute("select odl.odl_ai_append_message(%s, 'user', 'secret question', 3)", (session,))
        conn.commit()
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        su.execute("select odl.odl_set_context(%s, %s)", tenant)
        su.execute("set local role odl_analyst")
        row = su.execute(
            "select to_jsonb(s)::text, messages, tokens from odl.analyst_ai_sessions as s where session_id = %s",
            (session,),
        ).fetchone()
        assert row[1:] == (2, 7)
        assert "secret" not in row[0]
        with pytest.raises(psycopg.Error) as refused:
            su.execute("select * from odl.ai_messages")
        assert refused.value.sqlstate == "42501"
