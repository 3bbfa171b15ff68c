"""Access control through the API as odl_app: inheritance down the hierarchy
and overrides by the nearest node, time-bound grants, four-eyes approval
of change requests, AI agents, MFA, phase gates, every way to read a
redacted section, actions, and explanations of access.

Each test builds its own tenant (World): a human administrator holding
super_user at the PORTFOLIO, the seven levels PORTFOLIO > SITE > PLANT >
BLOCK > ARRAY > STRING > DEVICE with a sibling PLANT, all in one
transaction that acts as odl_app and is rolled back when the test ends. Expected
rights come from the policy model of test_access_matrix, which reads
policy/access.json.

The module runs in both context modes (conftest's --token-mode): in token
mode every context the application sets carries a token from the login
service."""

from __future__ import annotations

import copy
import json
import re
import sys
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import TOP, login_service, server_conninfo
from test_access_matrix import POLICY, SECTIONS, may_read, readable_document, role_rights

sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

pytestmark = pytest.mark.runs_in_token_mode

LEVELS = POLICY["hierarchy_levels"]


def secret_document() -> dict:
    """A valid document with a marker in each section or part that some
    roles may not read."""
    doc = copy.deepcopy(odlsd.generate(10_000, seed=5))
    doc["finance"]["x-secret"] = "SECRET-FINANCE"
    doc["operations"]["x-secret"] = "SECRET-OPERATIONS"
    doc["esg"]["x-secret"] = "SECRET-ESG"
    doc["external_models"]["x-secret"] = "SECRET-MODELS"
    doc["audit"].append({"id": "AU-SECRET", "x-secret": "SECRET-AUDIT"})
    doc["governance"]["signatures"][0]["x-secret"] = "SECRET-SIGNATURE"
    doc["libraries"]["components"][0]["pricing"] = {"unit_price": 1234, "note": "SECRET-PRICING"}
    return doc


DOC = secret_document()


def secrets_in(value) -> list[str]:
    """The markers anywhere in a JSON value."""
    return sorted(set(re.findall(r"SECRET-[A-Z]+", json.dumps(value))))


class World:
    """A tenant of the test's own, built through the API in one transaction
    that the test rolls back. The connection acts as the application (its
    session user is the login odl_app, so token mode binds it as it binds
    any application), and briefly as odl_admin to create users, as
    odl_analyst to read the views, as odl_auth to issue tokens, or as the
    superuser: one transaction for all, because creating a user appends to
    the tenant's audit chain, whose head an open odl_app transaction holds."""

    def __init__(self, dbname: str, connect):
        self.conn = connect(user="postgres")
        self.token_mode = login_service(dbname).on
        self.tokens: dict[str, str] = {}
        self.become("odl_admin")
        self.tenant = self.conn.execute(
            "select odl.odl_create_tenant(%s, 'EU')", (f"access-{uuid.uuid4().hex[:8]}",)
        ).fetchone()[0]
        self.become("odl_app")
        self.admin = self.new_user("super_user")
        self.nodes: dict[str, str] = {}
        parent = None
        for level in LEVELS:
            parent = self.value(self.admin, "select odl.odl_create_node(%s, %s, %s)", (parent, level, level.title()))
            self.nodes[level] = parent
        self.nodes["SIBLING"] = self.value(
            self.admin, "select odl.odl_create_node(%s, 'PLANT', 'Sibling plant')", (self.nodes["SITE"],)
        )
        self.assign(self.admin, "PORTFOLIO", "super_user")
        self._approver = None

    def become(self, role: str) -> None:
        """odl_app: the application's login itself (session authorization);
        postgres: the superuser; another role: the superuser in that role."""
        if role == "odl_app":
            self.conn.execute("set session authorization odl_app")
        else:
            self.conn.execute("set session authorization default")
            if role != "postgres":
                self.conn.execute(f"set role {role}")

    def as_role(self, role: str, query: str, params=()) -> list[tuple]:
        """Rows of a query run as another database role (postgres: the
        superuser), then back to odl_app."""
        self.become(role)
        try:
            return self.conn.execute(query, params).fetchall()
        finally:
            self.become("odl_app")

    def analyst(self, user: str, query: str, params=()) -> list[tuple]:
        """Rows of a query as odl_analyst in the user's context (the session
        user is the superuser, which may act for anyone). It runs in a
        savepoint: on an error, rolling it back restores odl_app."""
        with self.conn.transaction():
            self.become("odl_analyst")
            self.conn.execute("select odl.odl_set_context(%s, %s)", (self.tenant, user))
            found = self.conn.execute(query, params).fetchall()
            self.become("odl_app")
        return found

    # -- users and assignments --

    def new_user(self, role: str, mfa: bool = True, agent: str | None = None) -> str:
        """A user with a coarse role (as odl_admin)."""
        email = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:8]}@access.example"
        return self.as_role(
            "odl_admin", "select odl.odl_create_user(%s, %s, %s, %s, %s)", (self.tenant, email, role, mfa, agent)
        )[0][0]

    def user(self, role: str, at: str = "PORTFOLIO", **options) -> str:
        """A new user holding the role at the node."""
        user = self.new_user(role, **options)
        self.assign(user, at, role)
        return user

    def assign(self, user: str, at: str, role: str, starts: str = "0", ends: str | None = None) -> str:
        """Assigns as the administrator; starts and ends are intervals from now."""
        return self.value(
            self.admin,
            "select odl.odl_assign_role(%s, %s, %s, now() + %s::interval, now() + %s::interval)",
            (user, self.nodes.get(at, at), role, starts, ends),
        )

    @property
    def approver(self) -> str:
        """A project_manager at the PORTFOLIO, who approves phase changes."""
        if self._approver is None:
            self._approver = self.user("project_manager")
        return self._approver

    # -- calls as a user --

    def token(self, user: str) -> str:
        """The user's token from the login service. Issued in this
        transaction, the only one that sees the world's users."""
        if user not in self.tokens:
            self.tokens[user] = self.as_role(
                "odl_auth", "select odl.odl_issue_context_token(%s, %s)", (self.tenant, user)
            )[0][0]
        return self.tokens[user]

    def act_as(self, user: str) -> None:
        if self.token_mode:
            self.conn.execute("select odl.odl_set_context(%s, %s, %s)", (self.tenant, user, self.token(user)))
        else:
            self.conn.execute("select odl.odl_set_context(%s, %s)", (self.tenant, user))

    def rows(self, user: str, query: str, params=()) -> list[tuple]:
        self.act_as(user)
        return self.conn.execute(query, params).fetchall()

    def row(self, user: str, query: str, params=()) -> tuple:
        return self.rows(user, query, params)[0]

    def value(self, user: str, query: str, params=()):
        return self.row(user, query, params)[0]

    def attempt(self, user: str, query: str, params=()) -> tuple[list[tuple] | None, psycopg.Error | None]:
        """The rows of the query as the user, or the error it raises (in a
        savepoint, so that the transaction goes on)."""
        self.act_as(user)
        try:
            with self.conn.transaction():
                return self.conn.execute(query, params).fetchall(), None
        except psycopg.Error as error:
            return None, error

    def error(self, user: str, query: str, params=()) -> psycopg.Error | None:
        return self.attempt(user, query, params)[1]

    def state(self, user: str, query: str, params=()) -> str | None:
        error = self.error(user, query, params)
        return None if error is None else error.sqlstate

    # -- projects and documents --

    def project(self, at: str = "PLANT", doc: dict | None = DOC) -> tuple[str, str | None]:
        """A design project at the node, with a document the administrator
        created: (project_id, doc_id)."""
        project = self.value(self.admin, "select odl.odl_create_project(%s)", (f"Project {uuid.uuid4().hex[:6]}",))
        self.value(self.admin, "select odl.odl_attach_project(%s, %s)", (project, self.nodes.get(at, at)))
        if doc is None:
            return project, None
        return project, self.value(self.admin, "select odl.odl_create_document(%s, %s)", (project, Jsonb(doc)))

    def version(self, doc_id: str) -> int:
        return self.value(self.admin, "select version from odl.odl_document_heads() where doc_id = %s", (doc_id,))

    def stored(self, doc_id: str) -> dict:
        """The whole current document, as the administrator reads it."""
        return self.read(self.admin, doc_id)[0]

    def read(self, user: str, doc_id: str, version: int | None = None) -> tuple[dict, list[str]]:
        return self.row(user, "select document, redacted from odl.odl_get_document(%s, %s)", (doc_id, version))

    def patch(self, user: str, doc_id: str, patch: list[dict], expected: int | None = None, **options):
        """The row of odl_apply_patch() as a dict, or the SQLSTATE it raises."""
        expected = self.version(doc_id) if expected is None else expected
        names = "".join(f", {name} => %({name})s" for name in options)
        query = (
            "select version, doc_hash, outcome, change_id, redacted, document "
            f"from odl.odl_apply_patch(%(doc)s, %(patch)s, %(expected)s{names})"
        )
        params = {"doc": doc_id, "patch": Jsonb(patch), "expected": expected, **options}
        rows, error = self.attempt(user, query, params)
        if error is not None:
            return error.sqlstate
        keys = ("version", "doc_hash", "outcome", "change_id", "redacted", "document")
        return dict(zip(keys, rows[0]))

    def outcome(self, user: str, doc_id: str, patch: list[dict], **options) -> str:
        got = self.patch(user, doc_id, patch, **options)
        return got if isinstance(got, str) else got["outcome"]

    def approve(self, user: str, change_id: str, outcome: str = "approved", comment: str | None = None):
        query = "select status, version, doc_hash from odl.odl_approve_change(%s, %s, %s)"
        rows, error = self.attempt(user, query, (change_id, outcome, comment))
        return error.sqlstate if error is not None else rows[0]

    def changes(self, user: str, project: str, status: str | None = "pending") -> dict[str, dict]:
        """odl_change_requests() by change_id (status None: all)."""
        self.act_as(user)
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            found = cursor.execute(
                "select * from odl.odl_change_requests(%s, %s)", (project, status)
            ).fetchall()
        return {row["change_id"]: row for row in found}

    def rights(self, user: str, where: str, section: str) -> str:
        return self.value(
            self.admin, "select odl.odl_effective_rights(%s, %s, %s)", (user, self.nodes.get(where, where), section)
        )

    def phase(self, project: str) -> str:
        return self.value(self.admin, "select phase from odl.projects where project_id = %s", (project,))

    def advance(self, project: str, phase: str) -> None:
        """Moves the project to the phase, one approved step at a time."""
        phases = POLICY["phases"]
        while self.phase(project) != phase:
            step = phases[phases.index(self.phase(project)) + 1]
            change = self.value(self.admin, "select odl.odl_set_project_phase(%s, %s)", (project, step))
            assert self.approve(self.approver, change)[0] == "merged"


@pytest.fixture
def world(dbname, connect):
    built = World(dbname, connect)
    yield built
    built.conn.rollback()


def add(path: str, value="x") -> list[dict]:
    return [{"op": "add", "path": path, "value": value}]


def replace(path: str, value) -> list[dict]:
    return [{"op": "replace", "path": path, "value": value}]


def all_rights(world: World, user: str, where: str) -> dict[str, str]:
    return {section: world.rights(user, where, section) for section in SECTIONS}


def policy_rights(role: str) -> dict[str, str]:
    return {section: role_rights(role, section) for section in SECTIONS}


# --- inheritance and overrides down the hierarchy --------------------------------

def test_grant_at_the_portfolio_reaches_a_project_at_a_device(world):
    manager = world.user("project_manager", at="PORTFOLIO")
    project, doc_id = world.project(at="DEVICE")
    for level in LEVELS:
        assert all_rights(world, manager, level) == policy_rights("project_manager"), level
    assert all_rights(world, manager, project) == policy_rights("project_manager")

    written = world.patch(manager, doc_id, add("/operations/x-note", "inherited"))
    assert (written["outcome"], written["version"]) == ("applied", 2)
    assert world.stored(doc_id)["operations"]["x-note"] == "inherited"


def test_nearest_assignment_overrides_higher_ones(world):
    user = world.new_user("project_manager")
    world.assign(user, "PORTFOLIO", "project_manager")
    world.assign(user, "PLANT", "guest")
    below, below_doc = world.project(at="DEVICE")
    beside, beside_doc = world.project(at="SIBLING")

    for level in ("PORTFOLIO", "SITE", "SIBLING"):
        assert all_rights(world, user, level) == policy_rights("project_manager"), level
    for level in ("PLANT", "BLOCK", "ARRAY", "STRING", "DEVICE"):
        assert all_rights(world, user, level) == policy_rights("guest"), level
    assert all_rights(world, user, below) == policy_rights("guest")
    assert all_rights(world, user, beside) == policy_rights("project_manager")

    # Below the PLANT the guest reads no operations and writes nothing.
    document, redacted = world.read(user, below_doc)
    assert "operations" not in document and "/operations" in redacted
    assert world.outcome(user, below_doc, add("/meta/x-note")) == "ODR01"
    # On the sibling branch the project_manager assignment still decides.
    document, redacted = world.read(user, beside_doc)
    assert document["operations"] == DOC["operations"] and redacted == []
    assert world.outcome(user, beside_doc, add("/meta/x-note")) == "applied"


def test_revoking_the_lower_assignment_restores_the_higher(world):
    user = world.new_user("project_manager")
    world.assign(user, "PORTFOLIO", "project_manager")
    world.assign(user, "PLANT", "guest")
    _, doc_id = world.project(at="DEVICE")
    assert world.outcome(user, doc_id, add("/meta/x-note")) == "ODR01"

    assert world.value(world.admin, "select odl.odl_revoke_role(%s, %s, 'guest')", (user, world.nodes["PLANT"])) == 1
    assert all_rights(world, user, "DEVICE") == policy_rights("project_manager")
    assert world.outcome(user, doc_id, add("/meta/x-note")) == "applied"
    # Nothing is left to revoke.
    assert world.value(world.admin, "select odl.odl_revoke_role(%s, %s, 'guest')", (user, world.nodes["PLANT"])) == 0


def test_a_project_that_hangs_under_no_node_gives_nobody_rights(world):
    project, _ = world.project(doc=None)
    unattached = world.value(world.admin, "select odl.odl_create_project('Unattached')")
    assert world.state(world.admin, "select odl.odl_create_document(%s, %s)", (unattached, Jsonb(DOC))) == "ODR01"
    assert world.rights(world.admin, unattached, "meta") == ""
    assert world.rights(world.admin, project, "meta") == role_rights("super_user", "meta")


def test_the_tenant_administrator_gets_document_rights_only_from_assignments(world):
    _, doc_id = world.project()
    bare_admin = world.new_user("super_user")
    assert world.state(bare_admin, "select * from odl.odl_get_document(%s)", (doc_id,)) == "ODR01"
    assert world.outcome(bare_admin, doc_id, add("/meta/x-note")) == "ODR01"
    # Yet it administers the tenant: it adds nodes and assigns roles.
    node = world.value(bare_admin, "select odl.odl_create_node(null, 'PORTFOLIO', 'Second')")
    world.value(bare_admin, "select odl.odl_assign_role(%s, %s, 'guest')", (bare_admin, node))


@pytest.mark.parametrize(
    "starts, ends, status, decides",
    [
        pytest.param("1 hour", None, "not yet valid", False, id="before"),
        pytest.param("-1 hour", "1 hour", "applies", True, id="during"),
        pytest.param("-2 hours", "-1 hour", "expired", False, id="after"),
    ],
)
def test_time_bound_grant_counts_only_inside_its_window(world, starts, ends, status, decides):
    user = world.new_user("engineer")
    world.assign(user, "PORTFOLIO", "guest")
    assignment = world.assign(user, "PLANT", "engineer", starts=starts, ends=ends)
    _, doc_id = world.project(at="DEVICE")

    expected = "engineer" if decides else "guest"
    assert all_rights(world, user, "DEVICE") == policy_rights(expected)
    written = world.outcome(user, doc_id, add("/instances/0/x-note"))
    assert written == ("applied" if decides else "ODR01")

    explained = world.value(world.admin, "select odl.odl_explain_access(%s, %s)", (user, world.nodes["DEVICE"]))
    statuses = {a["assignment_id"]: a["status"] for a in explained["assignments"]}
    assert statuses[assignment] == status
    assert explained["deciding_node_id"] == world.nodes["PLANT" if decides else "PORTFOLIO"]


# --- who may assign ------------------------------------------------------------

def test_approvers_assign_below_them_but_never_super_user_or_themselves(world):
    manager = world.user("project_manager")
    officer = world.user("compliance_officer")
    engineer = world.user("engineer")
    supplier = world.user("supplier_manager")
    someone = world.new_user("client")
    assign = "select odl.odl_assign_role(%s, %s, %s)"
    plant = world.nodes["PLANT"]

    assert world.state(manager, assign, (someone, plant, "client")) is None
    assert world.state(officer, assign, (someone, plant, "consultant")) is None
    assert world.state(manager, assign, (someone, plant, "super_user")) == "ODR01"
    assert world.state(manager, assign, (manager, plant, "expert")) == "ODR01"
    # Not an approver role: no assigning, even with A on governance.
    assert "A" in role_rights("supplier_manager", "governance")
    assert world.state(supplier, assign, (someone, plant, "client")) == "ODR06"
    assert world.state(engineer, assign, (someone, plant, "client")) == "ODR06"
    assert world.state(manager, assign, (someone, plant, "no_such_role")) == "ODR07"
    assert world.state(manager, assign, (someone, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "client")) == "ODH02"


# --- four eyes ------------------------------------------------------------------

@pytest.fixture
def review(world):
    """An engineer, an expert and a supplier_manager at the PORTFOLIO, and a
    design project at the PLANT."""
    world.engineer = world.user("engineer")
    world.expert = world.user("expert")
    world.supplier = world.user("supplier_manager")
    world.project_id, world.doc_id = world.project()
    return world


def test_library_patch_of_an_engineer_waits_for_an_approver(review):
    w = review
    patch = replace("/libraries/components/1/status", "approved")
    proposed = w.patch(w.engineer, w.doc_id, patch)
    assert proposed["outcome"] == "proposed" and proposed["change_id"] is not None
    assert proposed["version"] == 1 and proposed["document"] is None
    assert w.stored(w.doc_id) == DOC and w.version(w.doc_id) == 1

    change = w.changes(w.expert, w.project_id)[proposed["change_id"]]
    assert (change["kind"], change["reason"], change["sections"], change["base_version"]) == (
        "patch", "proposal", ["libraries"], 1
    )
    assert (change["author_id"], change["patch"], change["status"]) == (w.engineer, patch, "pending")

    assert w.approve(w.engineer, proposed["change_id"]) == "ODR04"
    assert w.approve(w.supplier, proposed["change_id"]) == "ODR06"
    assert w.changes(w.expert, w.project_id)[proposed["change_id"]]["status"] == "pending"

    status, version, doc_hash = w.approve(w.expert, proposed["change_id"], comment="checked the datasheet")
    assert (status, version) == ("merged", 2)
    merged = w.stored(w.doc_id)
    assert merged["libraries"]["components"][1]["status"] == "approved"
    assert merged == w.value(w.admin, "select odl.odl_jsonpatch_apply(%s, %s)", (Jsonb(DOC), Jsonb(patch)))
    assert w.row(w.admin, "select version, doc_hash from odl.odl_document_heads() where doc_id = %s", (w.doc_id,)) == (
        2, doc_hash
    )
    assert w.rows(
        w.admin,
        "select section, outcome, approver_id, approver_role, comment from odl.approvals where change_id = %s",
        (proposed["change_id"],),
    ) == [("libraries", "approved", w.expert, "expert", "checked the datasheet")]
    decided = w.changes(w.expert, w.project_id, "merged")[proposed["change_id"]]
    assert (decided["decided_by"], decided["merged_version"]) == (w.expert, 2)
    assert w.approve(w.expert, proposed["change_id"]) == "ODR03"


def test_rejected_change_stays_unmerged(review):
    w = review
    proposed = w.patch(w.engineer, w.doc_id, add("/libraries/x-note", "rejected"))
    assert w.approve(w.expert, proposed["change_id"], "rejected", "not now") == ("rejected", None, None)
    assert w.version(w.doc_id) == 1 and w.stored(w.doc_id) == DOC
    assert w.rows(
        w.admin, "select section, outcome, approver_id from odl.approvals where change_id = %s",
        (proposed["change_id"],),
    ) == [("libraries", "rejected", w.expert)]
    assert w.changes(w.expert, w.project_id, "rejected")[proposed["change_id"]]["decided_by"] == w.expert
    assert proposed["change_id"] not in w.changes(w.expert, w.project_id)
    assert w.approve(w.expert, proposed["change_id"]) == "ODR03"
    assert w.version(w.doc_id) == 1


def test_stale_change_is_refused_and_an_unrelated_one_still_merges(review):
    w = review
    stale = w.patch(w.engineer, w.doc_id, replace("/instances/0/lifecycle_status", "maintenance"), propose=True)
    unrelated = w.patch(w.engineer, w.doc_id, replace("/instances/1/lifecycle_status", "maintenance"), propose=True)
    assert (stale["outcome"], unrelated["outcome"]) == ("proposed", "proposed")
    assert w.changes(w.expert, w.project_id)[stale["change_id"]]["reason"] == "requested"
    # Meanwhile the same pointer changes directly.
    assert w.outcome(w.engineer, w.doc_id, replace("/instances/0/lifecycle_status", "decommissioned")) == "applied"

    assert w.approve(w.expert, stale["change_id"]) == "ODR05"
    assert w.changes(w.expert, w.project_id)[stale["change_id"]]["status"] == "pending"
    assert w.rows(w.admin, "select 1 from odl.approvals where change_id = %s", (stale["change_id"],)) == []

    assert w.approve(w.expert, unrelated["change_id"])[:2] == ("merged", 3)
    merged = w.stored(w.doc_id)
    assert merged["instances"][0]["lifecycle_status"] == "decommissioned"
    assert merged["instances"][1]["lifecycle_status"] == "maintenance"


def test_second_of_two_changes_to_one_library_pointer_is_stale(review):
    w = review
    first = w.patch(w.engineer, w.doc_id, replace("/libraries/components/1/status", "approved"))
    second = w.patch(w.engineer, w.doc_id, replace("/libraries/components/1/status", "quarantine"))
    assert w.approve(w.expert, first["change_id"])[:2] == ("merged", 2)
    assert w.approve(w.expert, second["change_id"]) == "ODR05"
    assert w.stored(w.doc_id)["libraries"]["components"][1]["status"] == "approved"
    assert w.changes(w.expert, w.project_id)[second["change_id"]]["status"] == "pending"


def test_removal_in_an_array_makes_changes_to_its_elements_stale(review):
    w = review
    later = w.patch(w.engineer, w.doc_id, add("/connections/3/x-note", "later"), propose=True)
    assert w.outcome(w.engineer, w.doc_id, [{"op": "remove", "path": "/connections/0"}]) == "applied"
    assert w.approve(w.expert, later["change_id"]) == "ODR05"


# --- AI agents ------------------------------------------------------------------

@pytest.mark.parametrize(
    "agent, role",
    [pytest.param(agent, role, id=f"{agent}-{role}") for agent in POLICY["agents"] for role in POLICY["roles"]],
)
def test_agent_is_created_only_with_a_role_its_kind_may_take(world, agent, role):
    email = f"{agent}-{role}-{uuid.uuid4().hex[:6]}@agents.example"
    create = "select odl.odl_create_user(%s, %s, %s, true, %s)"
    world.become("odl_admin")
    try:
        with world.conn.transaction():
            world.conn.execute(create, (world.tenant, email, role, agent))
        got = None
    except psycopg.Error as error:
        got = error.sqlstate
    assert got == (None if role in POLICY["agents"][agent] else "ODR02")


def test_agent_is_assigned_only_roles_its_kind_may_take(world):
    planner = world.new_user("consultant", agent="planner_agent")
    assign = "select odl.odl_assign_role(%s, %s, %s)"
    assert world.state(world.admin, assign, (planner, world.nodes["PLANT"], "technician_operator")) == "ODR02"
    assert world.state(world.admin, assign, (planner, world.nodes["PLANT"], "expert")) == "ODR02"
    assert world.state(world.admin, assign, (planner, world.nodes["PLANT"], "data_analyst")) is None


def test_agent_write_becomes_a_change_request_and_an_agent_cannot_approve(world):
    planner = world.new_user("data_analyst", agent="planner_agent")
    world.assign(planner, "PORTFOLIO", "data_analyst")
    analyst = world.user("data_analyst")
    operator = world.new_user("technician_operator", agent="ops_agent")
    world.assign(operator, "PORTFOLIO", "technician_operator")
    engineer = world.user("engineer")
    project, doc_id = world.project()
    entry = add("/analysis/-", {"id": "AN-AGENT", "kind": "energy_yield"})

    assert "W" in role_rights("data_analyst", "analysis")
    assert world.outcome(analyst, doc_id, entry) == "applied"
    proposed = world.patch(planner, doc_id, entry, expected=2)
    assert proposed["outcome"] == "proposed" and proposed["version"] == 2
    assert world.changes(world.admin, project)[proposed["change_id"]]["reason"] == "agent"

    # Agents take no approver role, so they decide nothing.
    assert world.approve(operator, proposed["change_id"]) == "ODR06"
    human = world.patch(engineer, doc_id, add("/libraries/x-note"))
    assert world.approve(planner, human["change_id"]) == "ODR06"
    # Nor do they create documents.
    assert world.state(planner, "select odl.odl_create_document(%s, %s)", (project, Jsonb(DOC))) == "ODR01"


# --- MFA --------------------------------------------------------------------------

def test_mfa_role_cannot_be_assigned_to_a_user_without_mfa(world):
    user = world.new_user("guest", mfa=False)
    assign = "select odl.odl_assign_role(%s, %s, %s)"
    for role, spec in POLICY["roles"].items():
        got = world.state(world.admin, assign, (user, world.nodes["PLANT"], role))
        assert got == ("ODC04" if spec["mfa"] else None), role


def test_user_whose_mfa_is_turned_off_cannot_write_under_an_mfa_role(world):
    engineer = world.user("engineer")
    _, doc_id = world.project()
    assert world.outcome(engineer, doc_id, add("/instances/0/x-note")) == "applied"
    world.as_role("postgres", "update odl.users set mfa_enabled = false where user_id = %s returning 1", (engineer,))
    assert world.outcome(engineer, doc_id, add("/instances/1/x-note")) == "ODC04"
    assert world.outcome(engineer, doc_id, add("/libraries/x-note"), propose=True) == "ODC04"


# --- phase gates -------------------------------------------------------------------

LOCKED = [
    (phase, section)
    for phase, gates in POLICY["phase_gates"].items()
    for section, gate in gates.items()
    if gate["mode"] == "locked"
]


@pytest.mark.parametrize(
    "phase, section", [pytest.param(phase, section, id=f"{phase}-{section}") for phase, section in LOCKED]
)
def test_locked_section_is_refused_whatever_the_role(world, phase, section):
    writers = {
        role: world.user(role)
        for role in POLICY["roles"]
        if set(role_rights(role, section)) & set("WP") and role != "super_user"
    }
    writers["super_user"] = world.admin
    project, doc_id = world.project()
    world.advance(project, phase)
    patch = add(f"/{section}/-", {"id": "X-NOTE"}) if isinstance(DOC[section], list) else add(f"/{section}/x-note")
    for role, user in writers.items():
        for propose in (False, True):
            assert world.outcome(user, doc_id, patch, propose=propose, dry_run=True) == "ODG01", (role, propose)
            assert world.outcome(user, doc_id, patch, propose=propose) == "ODG01", (role, propose)
    assert world.version(doc_id) == 1
    # A new document changes no content, so no gate applies to it.
    assert world.state(world.admin, "select odl.odl_create_document(%s, %s)", (project, Jsonb(DOC))) is None


def approver_for(section: str) -> str:
    """The first approver role of the policy with A on the section."""
    return next(
        role for role, spec in POLICY["roles"].items() if spec["approver"] and "A" in role_rights(role, section)
    )


@pytest.mark.parametrize("section", ["libraries", "structures", "physical"])
def test_operations_phase_admits_design_sections_only_as_change_requests(world, section):
    engineer = world.user("engineer")
    expert = world.user("expert")
    approver = world.user(approver_for(section))
    project, doc_id = world.project()
    world.advance(project, "operations")
    gate = POLICY["phase_gates"]["operations"][section]
    assert gate["mode"] == "change_request" and gate["exempt"] == ["super_user"]
    patch = add(f"/{section}/x-note", "in operations")

    for user in (engineer, expert):
        assert world.outcome(user, doc_id, patch) == "ODG01"
        assert world.outcome(user, doc_id, patch, dry_run=True) == "ODG01"
    change = world.patch(engineer, doc_id, patch, propose=True)
    assert change["outcome"] == "proposed" and world.version(doc_id) == 1
    reason = "requested" if "W" in role_rights("engineer", section) else "proposal"
    assert world.changes(approver, project)[change["change_id"]]["reason"] == reason
    # The gate admits the approved change.
    assert world.approve(approver, change["change_id"])[:2] == ("merged", 2)
    assert world.stored(doc_id)[section]["x-note"] == "in operations"

    # The exempt super_user writes; libraries still need an approval.
    exempt = world.outcome(world.admin, doc_id, add(f"/{section}/x-exempt"))
    assert exempt == ("proposed" if section in POLICY["approval_sections"] else "applied")


def test_approval_waits_while_the_phase_locks_the_section(world):
    engineer = world.user("engineer")
    expert = world.user("expert")
    project, doc_id = world.project()
    world.advance(project, "procurement")
    change = world.patch(engineer, doc_id, add("/libraries/x-note"))
    world.advance(project, "commissioning")
    assert world.approve(expert, change["change_id"]) == "ODG01"
    assert world.changes(expert, project)[change["change_id"]]["status"] == "pending"
    assert world.version(doc_id) == 1


def test_phase_moves_only_to_the_next_one_and_only_after_approval(world):
    engineer = world.user("engineer")
    guest = world.user("guest")
    manager = world.approver
    project, _ = world.project(doc=None)
    request = "select odl.odl_set_project_phase(%s, %s)"

    for phase in ("design", "construction", "operations", "bogus", None):
        assert world.state(engineer, request, (project, phase)) == "ODG02", phase
    assert world.state(guest, request, (project, "procurement")) == "ODR01"
    change = world.value(engineer, request, (project, "procurement"))
    twin = world.value(world.admin, request, (project, "procurement"))
    assert world.phase(project) == "design"
    listed = world.changes(manager, project)[change]
    assert (listed["kind"], listed["target_phase"], listed["reason"], listed["sections"]) == (
        "phase", "procurement", "phase_change", ["governance"]
    )

    assert world.approve(engineer, change) == "ODR04"
    assert world.approve(guest, change) == "ODR06"
    assert world.approve(world.user("engineer"), change) == "ODR06"
    assert world.approve(manager, change) == ("merged", None, None)
    assert world.phase(project) == "procurement"
    # The twin was asked in design; the project has moved on.
    assert world.approve(manager, twin) == "ODG02"
    assert world.state(engineer, request, (project, "procurement")) == "ODG02"
    assert world.state(engineer, request, (project, "construction")) is None


# --- reading what is redacted --------------------------------------------------------

@pytest.fixture
def secrets(world):
    """An engineer, who may not read finance, operations, esg, external
    models, audit or the classified parts, and a project whose document
    holds markers there, at versions 1 and 2."""
    world.engineer = world.user("engineer")
    world.project_id, world.doc_id = world.project()
    assert world.outcome(world.engineer, world.doc_id, add("/instances/0/x-note", "v2")) == "applied"
    return world


def test_model_hides_every_marker_from_the_engineer():
    assert secrets_in(readable_document("engineer", DOC)) == []
    assert secrets_in(readable_document("auditor_legal", DOC)) == secrets_in(DOC) != []


@pytest.mark.parametrize("version", [None, 1, 2])
def test_redacted_sections_stay_hidden_in_current_and_past_versions(secrets, version):
    w = secrets
    document, redacted = w.read(w.engineer, w.doc_id, version)
    full = w.read(w.admin, w.doc_id, version)[0]
    assert document == readable_document("engineer", full)
    assert secrets_in(document) == []
    assert {"/finance", "/operations", "/audit", "/governance/signatures"} <= set(redacted)


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param(add("/instances/0/x-dry", "dry"), id="applied"),
        pytest.param(add("/libraries/x-dry", "dry"), id="proposed"),
    ],
)
def test_dry_run_shows_only_what_the_author_may_read(secrets, patch):
    w = secrets
    got = w.patch(w.engineer, w.doc_id, patch, dry_run=True)
    assert secrets_in(got["document"]) == []
    assert got["redacted"] == w.read(w.engineer, w.doc_id)[1]


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param([{"op": "test", "path": "/finance/x-secret", "value": "SECRET-FINANCE"}], id="test-right"),
        pytest.param([{"op": "test", "path": "/finance/x-secret", "value": "WRONG"}], id="test-wrong"),
        pytest.param([{"op": "test", "path": "", "value": {}}], id="test-whole"),
        pytest.param(
            [{"op": "copy", "from": "/operations/x-secret", "path": "/instances/0/x-copy"}], id="copy-out"
        ),
        pytest.param([{"op": "move", "from": "/esg/x-secret", "path": "/meta/x-moved"}], id="move-out"),
        pytest.param(
            [
                {"op": "add", "path": "/instances/0/x-note", "value": "fine"},
                {"op": "test", "path": "/audit/1/x-secret", "value": "SECRET-AUDIT"},
            ],
            id="test-beside-a-write",
        ),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry", "real"])
def test_patch_reaching_into_an_unreadable_section_is_refused(secrets, patch, dry_run):
    w = secrets
    assert w.outcome(w.engineer, w.doc_id, patch, dry_run=dry_run) == "ODR01"
    assert w.outcome(w.engineer, w.doc_id, patch, dry_run=dry_run, propose=True) == "ODR01"


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param(
            [{"op": "copy", "from": "/governance/signatures", "path": "/governance/x-copy"}], id="signatures"
        ),
        pytest.param(
            [{"op": "copy", "from": "/libraries/components/0/pricing", "path": "/libraries/x-copy"}], id="pricing"
        ),
    ],
)
def test_classified_part_cannot_be_copied_into_view(secrets, patch):
    """The engineer may propose in governance and libraries but not read
    their confidential parts: a copy must not show them."""
    w = secrets
    got = w.patch(w.engineer, w.doc_id, patch, dry_run=True)
    assert isinstance(got, str) or secrets_in(got["document"]) == [], got if isinstance(got, str) else got["redacted"]


def test_classified_part_cannot_be_probed_with_test_operations(secrets):
    w = secrets
    probe = "/governance/signatures/0/x-secret"
    right = w.outcome(w.engineer, w.doc_id, [{"op": "test", "path": probe, "value": "SECRET-SIGNATURE"}], dry_run=True)
    wrong = w.outcome(w.engineer, w.doc_id, [{"op": "test", "path": probe, "value": "WRONG"}], dry_run=True)
    assert right == wrong, f"a matching test gives {right}, a failing one {wrong}"


def test_change_request_patch_is_shown_only_to_readers_of_its_sections(secrets):
    w = secrets
    client = w.user("client")
    expert = w.user("expert")
    finance = w.patch(client, w.doc_id, add("/finance/x-offer", "SECRET-OFFER"))
    instances = w.patch(w.engineer, w.doc_id, add("/instances/1/x-note", "visible"), propose=True)
    assert finance["outcome"] == instances["outcome"] == "proposed"

    seen = w.changes(w.engineer, w.project_id)
    assert seen[finance["change_id"]]["patch"] is None
    assert seen[finance["change_id"]]["sections"] == ["finance"]
    assert seen[instances["change_id"]]["patch"] == add("/instances/1/x-note", "visible")
    assert w.changes(expert, w.project_id)[finance["change_id"]]["patch"] == add("/finance/x-offer", "SECRET-OFFER")
    assert secrets_in([dict(row, created_at=None, decided_at=None) for row in seen.values()]) == []


def test_history_carries_no_content(secrets):
    w = secrets
    history = w.rows(w.engineer, "select * from odl.odl_document_history(%s)", (w.doc_id,))
    assert [row[0] for row in history] == [1, 2]
    assert secrets_in([[str(field) for field in row] for row in history]) == []


@pytest.mark.parametrize(
    "relation",
    [
        "odl.odl_documents",
        "odl.odl_document_versions",
        "odl.odl_patches",
        "odl.change_requests",
        "odl.readable_documents",
        "odl.audit_trail",
    ],
)
def test_odl_app_cannot_select_stored_content(secrets, relation):
    assert secrets.state(secrets.engineer, f"select * from {relation}") == "42501"


def test_pure_patch_function_sees_only_its_argument(secrets):
    w = secrets
    patch = [{"op": "copy", "from": "/finance/x-secret", "path": "/x"}]
    error = w.error(w.engineer, "select odl.odl_jsonpatch_apply(%s, %s)", (Jsonb({"doc_id": w.doc_id}), Jsonb(patch)))
    assert error is not None and error.sqlstate.startswith("ODP")
    assert "SECRET" not in str(error)
    assert w.value(
        w.engineer, "select odl.odl_jsonpatch_apply(%s, %s)", (Jsonb({"finance": {}}), Jsonb(add("/finance/x", 1)))
    ) == {"finance": {"x": 1}}


def test_analysts_read_documents_redacted_by_the_same_rules(secrets):
    w = secrets
    auditor = w.user("auditor_legal")
    outsider = w.new_user("engineer")
    expected = w.read(w.engineer, w.doc_id)
    full = w.stored(w.doc_id)

    readable = "select document, redacted, version from odl.readable_documents where doc_id = %s"
    assert w.analyst(w.engineer, readable, (w.doc_id,)) == [(*expected, 2)]
    assert w.analyst(auditor, readable, (w.doc_id,)) == [(full, [], 2)]
    assert w.analyst(outsider, readable, (w.doc_id,)) == []


def test_analysts_read_the_audit_trail_only_with_r_on_audit(secrets):
    w = secrets
    auditor = w.user("auditor_legal")
    outsider = w.new_user("engineer")
    assert may_read("auditor_legal", "audit") and not may_read("engineer", "audit")

    trail = "select action from odl.audit_trail where doc_id = %s order by seq"
    assert w.analyst(auditor, trail, (w.doc_id,)) == [("document.created",), ("patch.applied",)]
    assert w.analyst(w.engineer, trail, (w.doc_id,)) == []
    assert w.analyst(outsider, "select count(*) from odl.audit_trail") == [(0,)]


# --- actions ------------------------------------------------------------------------

def test_actions_need_their_right_on_their_section(world):
    engineer = world.user("engineer")
    guest = world.user("guest")
    consultant = world.user("consultant")
    analyst = world.user("data_analyst")
    technician = world.user("technician_operator")
    project, _ = world.project(doc=None)
    check = "select odl.odl_check_action(%s, %s)"

    assert world.state(engineer, check, (project, "run_analysis")) is None
    assert world.state(guest, check, (project, "run_analysis")) == "ODR01"
    assert world.state(consultant, check, (project, "annotate_analysis")) is None
    assert world.state(analyst, check, (project, "annotate_analysis")) == "ODR01"
    assert world.state(technician, check, (project, "join_session")) is None
    assert world.state(engineer, check, (project, "export_package")) == "ODR01"
    assert world.state(engineer, check, (world.nodes["DEVICE"], "run_analysis")) is None
    error = world.error(guest, check, (project, "run_analysis"))
    assert "run_analysis" in error.diag.message_primary and "analysis" in error.diag.message_primary
    assert world.state(engineer, check, (project, "no_such_action")) == "22023"
    assert world.state(engineer, check, ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "run_analysis")) == "ODH02"
    unattached = world.value(world.admin, "select odl.odl_create_project('Unattached')")
    assert world.state(engineer, check, (unattached, "run_analysis")) == "ODR01"


# --- explaining access ------------------------------------------------------------

def test_explain_access_names_the_path_the_assignments_and_the_rights(world):
    user = world.new_user("expert")
    overridden = world.assign(user, "PORTFOLIO", "project_manager")
    applies = world.assign(user, "PLANT", "guest")
    revoked = world.assign(user, "BLOCK", "engineer")
    world.value(world.admin, "select odl.odl_revoke_role(%s, %s, 'engineer')", (user, world.nodes["BLOCK"]))
    expired = world.assign(user, "ARRAY", "expert", starts="-2 hours", ends="-1 hour")
    future = world.assign(user, "STRING", "consultant", starts="1 day")
    elsewhere = world.assign(user, "SIBLING", "client")
    project, _ = world.project(at="DEVICE", doc=None)

    explained = world.value(world.admin, "select odl.odl_explain_access(%s, %s, 'operations')", (user, project))
    assert [(node["level"], node["node_id"]) for node in explained["path"]] == [
        (level, world.nodes[level]) for level in LEVELS
    ]
    assert (explained["project_id"], explained["node_id"], explained["phase"]) == (
        project, world.nodes["DEVICE"], "design"
    )
    assert explained["deciding_node_id"] == world.nodes["PLANT"]
    statuses = {a["assignment_id"]: (a["role"], a["status"]) for a in explained["assignments"]}
    assert statuses == {
        overridden: ("project_manager", "overridden by a lower node"),
        applies: ("guest", "applies"),
        revoked: ("engineer", "revoked"),
        expired: ("expert", "expired"),
        future: ("consultant", "not yet valid"),
    }
    assert elsewhere not in statuses
    assert explained["rights"] == {"operations": role_rights("guest", "operations")}
    everything = world.value(world.admin, "select odl.odl_explain_access(%s, %s)", (user, project))
    assert everything["rights"] == policy_rights("guest")

    world.advance(project, "operations")
    gated = world.value(world.admin, "select odl.odl_explain_access(%s, %s, 'structures')", (user, project))
    assert gated["phase"] == "operations"
    assert gated["phase_gates"] == [{"section": "structures", "mode": "change_request", "exempt_roles": ["super_user"]}]
    assert world.value(world.admin, "select odl.odl_explain_access(%s, %s, 'finance')", (user, project))[
        "approval_sections"
    ] == ["finance"]


# --- the envelope ------------------------------------------------------------------

def test_envelope_keys_count_as_meta(world):
    engineer = world.user("engineer")
    guest = world.user("guest")
    _, doc_id = world.project()
    patch = replace("/schema_version", "4.1")
    assert "W" in role_rights("engineer", "meta")
    assert world.outcome(engineer, doc_id, patch, dry_run=True) == "applied"
    assert world.outcome(guest, doc_id, patch, dry_run=True) == "ODR01"
