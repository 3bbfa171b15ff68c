"""Analysts see only what they may, and see enough.

A person's login role, bound to a user of the tenant, reads the analyst
views (odl.analyst_*) in that user's context. Each view must show exactly
what the user may read through the API (odl_get_document,
odl_document_history, odl_changes_since, odl_change_requests, called by an
application as that user), nothing of another tenant, and, being a security
barrier, hand no filtered row to a function of the reader's in a WHERE."""

from __future__ import annotations

import sys
import uuid
from collections import Counter, defaultdict

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from conftest import TOP, TenantAccess, server_conninfo

sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

DOC = odlsd.generate(10_000, seed=5)
VIEWS = (
    "analyst_projects", "analyst_patches", "analyst_patches_daily", "analyst_change_requests",
    "analyst_instance_counts", "analyst_audit_actions", "analyst_component_instances",
    "analyst_ai_sessions", "analyst_cag_entries",
)
# Issue 13's usage, cost and escrow views (tests/python/test_monetisation.py
# and test_traces.py test what they show).
MONETISATION_VIEWS = (
    "analyst_psu_usage", "analyst_psu_budgets", "analyst_escrows", "analyst_tool_costs", "analyst_invoices"
)


def new_tenant(dbname: str) -> tuple[str, str]:
    """A committed tenant with one engineer, as conftest's `tenant` makes it."""
    with psycopg.connect(server_conninfo(dbname=dbname)) as admin:
        admin.execute("set role odl_admin")
        tenant_id = admin.execute(
            "select odl.odl_create_tenant(%s, 'EU')", (f"t-{uuid.uuid4().hex[:6]}",)
        ).fetchone()[0]
        user_id = admin.execute(
            "select odl.odl_create_user(%s, %s, 'engineer')", (tenant_id, f"{uuid.uuid4().hex[:6]}@example.com")
        ).fetchone()[0]
    return tenant_id, user_id


class Tenant:
    """A tenant with two portfolios. Project A hangs under the first, where
    the guest, the engineer and the data analyst hold their roles; project B
    under the second, where only the engineer does. Its documents carry
    patches into sections and classified parts that some of them may not
    read, applied, proposed and merged; change requests wait in every state."""

    def __init__(self, dbname: str):
        self.dbname = dbname
        self.access = TenantAccess(dbname, new_tenant(dbname))
        a = self.access
        self.tenant_id, self.admin_id, self.engineer_id = a.tenant_id, a.admin_id, a.user_id
        a.assign("super_user", self.admin_id)
        a.assign("engineer", self.engineer_id)
        self.guest_id = a.create_user("guest")
        a.assign("guest", self.guest_id)
        self.analyst_id = a.create_user("data_analyst")
        a.assign("data_analyst", self.analyst_id)
        self.approver_id = a.create_user("super_user")
        a.assign("super_user", self.approver_id)
        self.auditor_id = a.create_user("auditor_legal")
        a.assign("auditor_legal", self.auditor_id)
        with a.session(self.admin_id) as conn:
            self.node_b = conn.execute(
                "select odl.odl_create_node(null, 'PORTFOLIO', %s)", (f"second-{uuid.uuid4().hex[:6]}",)
            ).fetchone()[0]
            for user, role in ((self.admin_id, "super_user"), (self.engineer_id, "engineer")):
                conn.execute("select odl.odl_assign_role(%s, %s, %s)", (user, self.node_b, role))
            self.project_a = conn.execute("select odl.odl_create_project(%s)", (f"A-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
            self.project_b = conn.execute("select odl.odl_create_project(%s)", (f"B-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
            conn.execute("select odl.odl_attach_project(%s, %s)", (self.project_a, a.node_id))
            conn.execute("select odl.odl_attach_project(%s, %s)", (self.project_b, self.node_b))
        with a.session(self.admin_id) as conn:
            self.doc_a = conn.execute(
                "select odl.odl_create_document(%s, %s)", (self.project_a, Jsonb(DOC))
            ).fetchone()[0]
            self.doc_b = conn.execute(
                "select odl.odl_create_document(%s, %s)", (self.project_b, Jsonb(DOC))
            ).fetchone()[0]

        def replace(path, value):
            return [{"op": "replace", "path": path, "value": value}]

        assert self.write(self.engineer_id, self.doc_a, replace("/instances/0/lifecycle_status", "installed"),
                          "engineer installs a substation")[0] == "applied"
        assert self.write(self.analyst_id, self.doc_a, replace("/analysis/0/p50_mwh", 97_000),
                          "yield re-run")[0] == "applied"
        # Both need approval: the price is a confidential part, finance restricted.
        outcome, self.price_change = self.write(
            self.admin_id, self.doc_a, [{"op": "add", "path": "/libraries/components/0/pricing",
                                         "value": {"unit_price": 1}}], "price agreed")
        assert outcome == "proposed"
        with a.session(self.approver_id) as conn:
            assert conn.execute(
                "select status from odl.odl_approve_change(%s, 'approved')", (self.price_change,)
            ).fetchone()[0] == "merged"
        outcome, self.finance_change = self.write(
            self.admin_id, self.doc_a, replace("/finance/opex_per_year", 640_000), "opex revised")
        assert outcome == "proposed"
        outcome, self.library_change = self.write(
            self.engineer_id, self.doc_a, replace("/libraries/components/1/status", "received"), "delivered")
        assert outcome == "proposed"
        with a.session(self.approver_id) as conn:
            conn.execute("select odl.odl_approve_change(%s, 'rejected', 'not yet')", (self.library_change,))
        with a.session(self.engineer_id) as conn:
            self.phase_change = conn.execute(
                "select odl.odl_set_project_phase(%s, 'procurement')", (self.project_a,)
            ).fetchone()[0]
        assert self.write(self.engineer_id, self.doc_b, replace("/instances/1/lifecycle_status", "commissioned"),
                          "B commissioning")[0] == "applied"

        self.logins: dict[str, str] = {}
        for user in (self.guest_id, self.engineer_id, self.auditor_id):
            login = f"analyst_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
                su.execute(sql.SQL("create role {} login in role odl_analyst").format(sql.Identifier(login)))
            with a.session(self.admin_id) as conn:
                conn.execute("select odl.odl_bind_login(%s, %s)", (login, user))
            self.logins[user] = login

    def write(self, user: str, doc_id: str, patch: list, intent: str) -> tuple[str, str | None]:
        with self.access.session(user) as conn:
            version = conn.execute(
                "select version from odl.odl_document_heads() where doc_id = %s", (doc_id,)
            ).fetchone()[0]
            return conn.execute(
                "select outcome, change_id from odl.odl_apply_patch(%s, %s, %s, %s)",
                (doc_id, Jsonb(patch), version, intent),
            ).fetchone()

    def app(self, user: str) -> psycopg.Connection:
        """An application acting for the user."""
        return self.access.session(user)

    def analyst(self, user: str) -> psycopg.Connection:
        """The user's own login, bound to them, in their context."""
        conn = psycopg.connect(server_conninfo(dbname=self.dbname, user=self.logins[user]))
        conn.execute("select odl.odl_set_context(%s, %s)", (self.tenant_id, user))
        return conn

    def drop(self) -> None:
        with psycopg.connect(server_conninfo(dbname=self.dbname), autocommit=True) as su:
            for login in self.logins.values():
                su.execute("delete from odl.login_bindings where login = %s", (login,))
                su.execute(sql.SQL("drop role {}").format(sql.Identifier(login)))


@pytest.fixture(scope="module")
def world(dbname):
    here, other = Tenant(dbname), Tenant(dbname)
    yield here, other
    here.drop()
    other.drop()


def rows(conn: psycopg.Connection, query: str, params=()) -> list[tuple]:
    return conn.execute(query, params).fetchall()


READERS = ("guest", "engineer")


def reader(t: Tenant, name: str) -> str:
    return {"guest": t.guest_id, "engineer": t.engineer_id, "auditor": t.auditor_id}[name]


@pytest.mark.parametrize("name", READERS)
def test_projects_are_those_the_user_may_read_with_their_node_path(world, name):
    t, _ = world
    user = reader(t, name)
    with t.app(user) as app:
        heads = Counter(r[0] for r in rows(app, "select project_id from odl.odl_document_heads()"))
    with t.analyst(user) as conn:
        shown = rows(conn, "select project_id, phase, node_level, path_levels, documents from odl.analyst_projects")
    assert {p: n for p, _, _, _, n in shown} == dict(heads)
    assert set(heads) == ({t.project_a} if name == "guest" else {t.project_a, t.project_b})
    assert all(level == "PORTFOLIO" and levels == ["PORTFOLIO"] and phase == "design"
               for _, phase, level, levels, _ in shown)


@pytest.mark.parametrize("name", READERS)
def test_patches_show_the_history_and_feed_the_api_shows(world, name):
    t, _ = world
    user = reader(t, name)
    with t.app(user) as app:
        docs = [r[0] for r in rows(app, "select doc_id from odl.odl_document_heads() order by doc_id")]
        history = [
            (doc, *r) for doc in docs for r in rows(
                app, "select version, created_by, intent, operations from odl.odl_document_history(%s)", (doc,))
        ]
        feed = {(d, v): p for d, v, p in rows(
            app, "select doc_id, version, changed_pointers from odl.odl_changes_since(null, 10000)")}
    with t.analyst(user) as conn:
        shown = rows(conn, "select doc_id, version, author_id, intent, operations, changed_pointers "
                           "from odl.analyst_patches order by doc_id, version")
        daily = rows(conn, "select day, author_id, project_id, versions, documents, operations "
                           "from odl.analyst_patches_daily")
        per_day = rows(conn, "select day, author_id, project_id, doc_id, operations from odl.analyst_patches")
    assert [r[:5] for r in shown] == sorted(history)
    assert {(d, v): p for d, v, _, _, _, p in shown} == feed
    intents = {i for *_, i, _, _ in shown}
    # What the reader may not read leaves no trace: the merged price (a
    # confidential part) for both; the yield (analysis) for the engineer.
    assert "price agreed" not in intents
    assert not [p for pointers in feed.values() for p in pointers or [] if "/pricing" in p]
    assert ("yield re-run" in intents) == (name == "guest")
    assert "engineer installs a substation" in intents
    expected = defaultdict(lambda: [0, set(), 0])
    for day, author, project, doc, operations in per_day:
        entry = expected[(day, author, project)]
        entry[0] += 1
        entry[1].add(doc)
        entry[2] += operations or 0
    assert sorted(daily) == sorted((*k, n, len(d), o) for k, (n, d, o) in expected.items())


@pytest.mark.parametrize("name", READERS)
def test_change_requests_show_what_odl_change_requests_shows_with_their_age(world, name):
    t, _ = world
    user = reader(t, name)
    columns = "change_id, status, kind, sections, intent, patch, redacted, author_id, decided_by"
    with t.app(user) as app:
        expected = rows(app, f"select {columns} from odl.odl_change_requests(null, null) order by change_id")
    with t.analyst(user) as conn:
        shown = rows(conn, f"select {columns} from odl.analyst_change_requests order by change_id")
        ages = rows(conn, "select change_id, age, status, decided_at - created_at from odl.analyst_change_requests")
    assert shown == expected
    assert {c[0] for c in shown} == {t.price_change, t.finance_change, t.library_change, t.phase_change}
    finance = next(c for c in shown if c[0] == t.finance_change)
    assert finance[4] is None and finance[5] is None and finance[6] == ["/finance"]
    price = next(c for c in shown if c[0] == t.price_change)
    assert price[4] is None and price[6] == ["/libraries/components/*/pricing"]
    for _, age, status, decided_after in ages:
        assert age.total_seconds() > 0
        assert (age == decided_after) if status != "pending" else decided_after is None


@pytest.mark.parametrize("name", READERS)
def test_instance_counts_match_the_documents_the_user_reads(world, name):
    t, _ = world
    user = reader(t, name)
    expected: Counter = Counter()
    with t.app(user) as app:
        for doc, project in rows(app, "select doc_id, project_id from odl.odl_document_heads()"):
            document = rows(app, "select document from odl.odl_get_document(%s)", (doc,))[0][0]
            for instance in document.get("instances", []):
                expected[(project, instance.get("type_ref"), instance.get("lifecycle_status"))] += 1
    with t.analyst(user) as conn:
        shown = rows(conn, "select project_id, type_ref, lifecycle_status, instances from odl.analyst_instance_counts")
    assert {(p, ty, s): n for p, ty, s, n in shown} == dict(expected)
    assert sum(expected.values()) > 0


def test_audit_actions_count_the_events_the_user_may_read(world, dbname):
    t, _ = world
    # Neither a guest nor an engineer may read the audit section.
    for name in READERS:
        with t.analyst(reader(t, name)) as conn:
            assert rows(conn, "select * from odl.analyst_audit_actions") == []
    # The auditor reads audit (confidential) at the first portfolio: every
    # event of project A and every event of no project; none of project B.
    with psycopg.connect(server_conninfo(dbname=dbname)) as admin:
        admin.execute("set role odl_admin")
        events = rows(admin, "select (created_at at time zone 'UTC')::date, action, project_id "
                             "from odl.odl_audit_since(%s, 0, 10000)", (t.tenant_id,))
    expected = Counter(e for e in events if e[2] in (None, t.project_a))
    assert any(e[2] == t.project_b for e in events)
    with t.analyst(t.auditor_id) as conn:
        shown = rows(conn, "select day, action, project_id, events from odl.analyst_audit_actions")
    assert {(d, a, p): n for d, a, p, n in shown} == dict(expected)
    assert {"patch.applied", "patch.proposed", "phase.proposed", "change.approved"} <= {a for _, a, _ in expected}


@pytest.mark.parametrize("name", (*READERS, "auditor"))
def test_nothing_of_another_tenant_is_shown(world, name):
    t, other = world
    theirs = {other.tenant_id, other.project_a, other.project_b, other.doc_a, other.doc_b, other.price_change,
              other.finance_change, other.library_change, other.phase_change, other.admin_id, other.engineer_id}
    ours = {t.project_a, t.doc_a}
    seen: set = set()
    with t.analyst(reader(t, name)) as conn:
        for view in VIEWS:
            for row in rows(conn, sql.SQL("select v::text from odl.{} as v").format(sql.Identifier(view))):
                seen.update(x for x in theirs | ours if x in row[0])
    assert not seen & theirs
    assert ours <= seen


def test_without_its_context_a_login_reads_nothing_and_an_application_nothing_at_all(world):
    t, _ = world
    with psycopg.connect(server_conninfo(dbname=t.dbname, user=t.logins[t.guest_id])) as conn:
        for view in VIEWS:
            assert rows(conn, sql.SQL("select count(*) from odl.{}").format(sql.Identifier(view))) == [(0,)]
        with pytest.raises(psycopg.Error) as caught:
            conn.execute("select odl.odl_set_context(%s, %s)", (t.tenant_id, t.engineer_id))
        assert caught.value.sqlstate == "ODC05"
    with t.app(t.engineer_id) as app:
        for view in VIEWS:
            with pytest.raises(psycopg.Error) as caught:
                app.execute(sql.SQL("select * from odl.{}").format(sql.Identifier(view)))
            assert caught.value.sqlstate == "42501"
            app.rollback()


LEAK = """
    create function pg_temp.leak(seen text) returns boolean
    language plpgsql cost 0.000001 as $$
    begin
        raise notice 'LEAK %', seen;
        return true;
    end
    $$
"""

LEAKY_QUERIES = {
    "analyst_projects": "select project_id from odl.analyst_projects where pg_temp.leak(project_id)",
    "analyst_patches": "select doc_id from odl.analyst_patches where pg_temp.leak(doc_id)",
    "analyst_patches_daily": "select project_id from odl.analyst_patches_daily where pg_temp.leak(project_id)",
    "analyst_change_requests": "select change_id from odl.analyst_change_requests where pg_temp.leak(change_id)",
    "analyst_instance_counts": "select project_id from odl.analyst_instance_counts where pg_temp.leak(project_id)",
    "analyst_audit_actions": "select action from odl.analyst_audit_actions where pg_temp.leak(action)",
    "analyst_component_instances":
        "select instance_id from odl.analyst_component_instances where pg_temp.leak(instance_id)",
    "analyst_ai_sessions": "select session_id from odl.analyst_ai_sessions where pg_temp.leak(session_id)",
    "analyst_cag_entries": "select cache_key from odl.analyst_cag_entries where pg_temp.leak(cache_key)",
}


def leaked(conn: psycopg.Connection, query: str) -> tuple[set, set]:
    notices: list[str] = []

    def keep(diagnostic):
        if diagnostic.message_primary and diagnostic.message_primary.startswith("LEAK "):
            notices.append(diagnostic.message_primary[5:])

    conn.add_notice_handler(keep)
    try:
        shown = {r[0] for r in conn.execute(query).fetchall()}
    finally:
        conn.remove_notice_handler(keep)
    return shown, set(notices)


@pytest.mark.parametrize("view", VIEWS)
def test_a_leaky_function_in_a_where_sees_no_filtered_row(world, view):
    t, _ = world
    user = t.guest_id if view != "analyst_audit_actions" else t.engineer_id
    with t.analyst(user) as conn:
        conn.execute(LEAK)
        shown, seen = leaked(conn, LEAKY_QUERIES[view])
    assert seen == shown


def test_without_the_barrier_the_leak_test_would_see_filtered_rows(world):
    """The control: the same query leaks once the view is no security barrier
    (the planner then runs the cheap function before the costly rights check)."""
    t, _ = world
    view = "analyst_projects"
    with psycopg.connect(server_conninfo(dbname=t.dbname)) as su:
        su.execute(sql.SQL("alter view odl.{} reset (security_barrier)").format(sql.Identifier(view)))
        su.execute("select odl.odl_set_context(%s, %s)", (t.tenant_id, t.guest_id))
        su.execute("set role odl_analyst")
        su.execute(LEAK)
        shown, seen = leaked(su, LEAKY_QUERIES[view])
        su.rollback()
    assert shown == {t.project_a} and t.project_b in seen


def test_the_security_audit_stays_clean(world, dbname):
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        assert rows(su, "select * from odl.odl_security_audit()") == []
        privileges = rows(su, """
            select c.relname::text from pg_class as c
            where c.relnamespace = 'odl'::regnamespace and c.relname like 'analyst\\_%%'
                and has_table_privilege('odl_analyst', c.oid, 'SELECT')
                and not has_table_privilege('odl_app', c.oid, 'SELECT')
                and c.reloptions @> array['security_barrier=true']
            order by 1""")
    # The procurement views are tested in test_procurement.py, the traceability views in test_traceability.py.
    procurement = ("analyst_open_warranty_claims", "analyst_order_lines", "analyst_stock")
    procurement += ("analyst_serials", "analyst_received_not_installed", "analyst_approved_not_ordered")
    assert [r[0] for r in privileges] == sorted(VIEWS + procurement + MONETISATION_VIEWS)
