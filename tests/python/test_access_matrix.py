"""The access policy as a matrix: every role on every section in every phase,
through the real API as odl_app, against outcomes computed here from
policy/access.json alone.

The model below reads the file and applies the rules of the access brief
independently of the SQL: a role's rights on a section are the union of
its permission sets' rights and its overrides (in one mapping, a section
named beside "*" takes its place), and W, P and A each imply R. A section
is readable with R and a clearance at least its classification. A write
needs W or P; a phase gate that does not exempt the role refuses it
(ODG01) when locked, or unless it is proposed when change_request; it is
held as a change request when the role has only P or the section needs an
approval, else applied.

One tenant is set up per module: a user per role (MFA enabled) assigned at
a PORTFOLIO node, and one project per phase under a PLANT below it, each
with one document that a super_user created. Every case is then one call
in a transaction that is rolled back. The module runs in both context modes
(conftest's --token-mode)."""

from __future__ import annotations

import copy
import json
import sys
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import TOP, server_conninfo, set_app_context

sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

pytestmark = pytest.mark.runs_in_token_mode

POLICY = json.loads((TOP / "policy" / "access.json").read_text())
SECTIONS = list(POLICY["sections"])
ROLES = list(POLICY["roles"])
PHASES = list(POLICY["phases"])
LEVELS = list(POLICY["classification_levels"])
RIGHT_CODES = "".join(POLICY["rights"])
ENVELOPE = POLICY["envelope"]


# --- the policy, modelled from the file ----------------------------------------

def granted(mapping: dict[str, str], section: str) -> str:
    """What one mapping (a permission set, or a role's overrides) grants on a
    section: "*" stands for every section that is not named beside it."""
    return mapping.get(section, mapping.get("*", ""))


def role_rights(role: str, section: str) -> str:
    """The role's rights on the section, in the file's order of codes."""
    spec = POLICY["roles"][role]
    codes = set(granted(spec["overrides"], section))
    for set_id in spec["sets"]:
        codes |= set(granted(POLICY["permission_sets"][set_id], section))
    if codes & set("WPA"):
        codes.add("R")
    return "".join(code for code in RIGHT_CODES if code in codes)


def rank(level: str) -> int:
    return LEVELS.index(level)


def clearance(roles: list[str]) -> int:
    return max((rank(POLICY["roles"][role]["clearance"]) for role in roles), default=-1)


def may_read(role: str, section: str) -> bool:
    return "R" in role_rights(role, section) and rank(POLICY["sections"][section]) <= clearance([role])


def hidden_parts(role: str, section: str) -> list[str]:
    """The classified parts of a readable section that the role's clearance
    does not reach."""
    return [
        pointer
        for pointer, level in POLICY["classified_parts"].items()
        if pointer.split("/")[1] == section and may_read(role, section) and rank(level) > clearance([role])
    ]


def write_outcome(role: str, section: str, phase: str, *, propose: bool = False, agent: bool = False) -> str:
    """applied, proposed, or the SQLSTATE that refuses a one-section patch."""
    held = role_rights(role, section)
    if not set(held) & set("WP"):
        return "ODR01"
    gate = POLICY["phase_gates"][phase].get(section)
    if gate is not None and role not in gate["exempt"]:
        if gate["mode"] == "locked" or not propose:
            return "ODG01"
    if "W" not in held or propose or agent or section in POLICY["approval_sections"]:
        return "proposed"
    return "applied"


def action_allowed(role: str, action: str) -> bool:
    needed = POLICY["actions"][action]
    return bool(set(role_rights(role, needed["section"])) & set(needed["rights"]))


def pointer_values(value, steps: list[str]) -> list:
    """The values a pointer with * steps (any key or index) names."""
    if not steps:
        return [value]
    head, rest = steps[0], steps[1:]
    if isinstance(value, dict):
        children = list(value.values()) if head == "*" else ([value[head]] if head in value else [])
    elif isinstance(value, list):
        children = value if head == "*" else ([value[int(head)]] if head.isdigit() and int(head) < len(value) else [])
    else:
        children = []
    return [found for child in children for found in pointer_values(child, rest)]


def without(value, steps: list[str]):
    """The value without what a pointer with * steps names."""
    if not steps or not isinstance(value, (dict, list)):
        return value
    head, rest = steps[0], steps[1:]
    if isinstance(value, dict):
        keys = list(value) if head == "*" else [head]
        if not rest:
            return {key: item for key, item in value.items() if key not in keys}
        return {key: without(item, rest) if key in keys else item for key, item in value.items()}
    if head != "*":
        return value
    return [] if not rest else [without(item, rest) for item in value]


def readable_document(role: str, doc: dict) -> dict:
    """The document as the role may read it."""
    shown = {
        key: value
        for key, value in doc.items()
        if may_read(role, ENVELOPE["section"] if key in ENVELOPE["keys"] else key)
    }
    for section in SECTIONS:
        for part in hidden_parts(role, section):
            shown = without(shown, part.split("/")[1:])
    return shown


def test_model_reads_the_policy_as_written():
    """The model's reading of a few rules, checked by hand against the file."""
    assert role_rights("guest", "operations") == ""
    assert role_rights("guest", "finance") == "R"
    assert role_rights("engineer", "libraries") == "RP"
    assert role_rights("engineer", "operations") == "XS"
    assert role_rights("expert", "libraries") == "RWPA"
    assert role_rights("super_user", "meta") == "RWAXS"
    # Overrides name audit beside "*": it reads only.
    assert role_rights("super_user", "audit") == "R"
    assert not may_read("engineer", "finance")
    assert may_read("client", "finance")
    assert not may_read("client", "audit")
    assert hidden_parts("client", "governance") == ["/governance/signatures"]
    assert write_outcome("engineer", "libraries", "operations") == "ODG01"
    assert write_outcome("engineer", "libraries", "operations", propose=True) == "proposed"
    assert write_outcome("super_user", "structures", "operations") == "applied"
    assert write_outcome("super_user", "libraries", "commissioning") == "ODG01"
    assert write_outcome("engineer", "instances", "design") == "applied"
    assert write_outcome("guest", "meta", "design") == "ODR01"
    # Every classified part is in the matrix document, so hiding it shows.
    for part in POLICY["classified_parts"]:
        assert pointer_values(DOC, part.split("/")[1:]) != [], part


# --- one patch per section -------------------------------------------------------

def matrix_document() -> dict:
    """The 12 KB fixture document, every section present, with prices on the
    library's components (a part classified confidential)."""
    doc = copy.deepcopy(odlsd.generate(12_000, seed=3))
    for number, component in enumerate(doc["libraries"]["components"]):
        component["pricing"] = {"unit_price": 1000 + number, "currency": "EUR"}
    return doc


DOC = matrix_document()
assert set(SECTIONS) <= set(DOC), "the matrix document must hold every section"


def section_patch(section: str) -> list[dict]:
    """One operation that writes only the section and keeps the document
    valid: an added member of an object section, an appended entry of a
    list section."""
    value = DOC[section]
    if section == "instances":
        entry = {"id": "X-TEST-01", "type_ref": DOC["libraries"]["components"][0]["id"], "parent_ref": "PLANT-01"}
        return [{"op": "add", "path": "/instances/-", "value": entry}]
    if section == "connections":
        return [{"op": "add", "path": "/connections/0/x-test", "value": "matrix"}]
    if isinstance(value, list):
        return [{"op": "add", "path": f"/{section}/-", "value": {"id": "X-TEST-01", "note": "matrix"}}]
    return [{"op": "add", "path": f"/{section}/x-test", "value": "matrix"}]


# --- the module's tenant -----------------------------------------------------------

class Matrix:
    """The committed fixtures of the module and one odl_app connection."""

    def __init__(self, dbname: str):
        suffix = uuid.uuid4().hex[:8]
        with psycopg.connect(server_conninfo(dbname=dbname, user="postgres")) as admin:
            admin.execute("set role odl_admin")
            self.tenant = admin.execute(
                "select odl.odl_create_tenant(%s, 'EU')", (f"matrix-{suffix}",)
            ).fetchone()[0]
            self.admin = admin.execute(
                "select odl.odl_create_user(%s, %s, 'super_user')", (self.tenant, f"admin-{suffix}@matrix.example")
            ).fetchone()[0]
            self.users = {
                role: admin.execute(
                    "select odl.odl_create_user(%s, %s, %s, true)",
                    (self.tenant, f"{role.replace('_', '-')}-{suffix}@matrix.example", role),
                ).fetchone()[0]
                for role in ROLES
            }
        self.app = psycopg.connect(server_conninfo(dbname=dbname, user="odl_app"))
        with self.app.transaction():
            self.act_as(self.admin)
            portfolio = self.one("select odl.odl_create_node(null, 'PORTFOLIO', 'Matrix')")
            site = self.one("select odl.odl_create_node(%s, 'SITE', 'Site')", (portfolio,))
            plant = self.one("select odl.odl_create_node(%s, 'PLANT', 'Plant')", (site,))
            self.one("select odl.odl_assign_role(%s, %s, 'super_user')", (self.admin, portfolio))
            for role, user in self.users.items():
                self.one("select odl.odl_assign_role(%s, %s, %s)", (user, portfolio, role))
            self.projects, self.docs = {}, {}
            for phase in PHASES:
                project = self.one("select odl.odl_create_project(%s)", (f"Matrix {phase}",))
                self.one("select odl.odl_attach_project(%s, %s)", (project, plant))
                self.docs[phase] = self.one("select odl.odl_create_document(%s, %s)", (project, Jsonb(DOC)))
                self.projects[phase] = project
        # Locked gates bind super_user too, so a document holding every
        # section cannot be created in procurement, construction or
        # commissioning: each project gets its phase once its document exists.
        with psycopg.connect(server_conninfo(dbname=dbname, user="postgres")) as superuser:
            for phase, project in self.projects.items():
                superuser.execute("update odl.projects set phase = %s where project_id = %s", (phase, project))
        self.reads: dict[tuple[str, str], tuple[dict, list[str]]] = {}

    def act_as(self, user: str) -> None:
        set_app_context(self.app, self.tenant, user)

    def one(self, query: str, params=()):
        return self.app.execute(query, params).fetchone()[0]

    def call(self, user: str, query: str, params=()):
        """The row the query returns as the user, or the SQLSTATE it raises;
        rolled back either way."""
        with self.app.transaction(force_rollback=True):
            self.act_as(user)
            try:
                return self.app.execute(query, params).fetchone()
            except psycopg.Error as error:
                return error.sqlstate

    def read(self, role: str, phase: str) -> tuple[dict, list[str]]:
        if (role, phase) not in self.reads:
            got = self.call(
                self.users[role], "select document, redacted from odl.odl_get_document(%s)", (self.docs[phase],)
            )
            assert not isinstance(got, str), f"{role} cannot read the document: {got}"
            self.reads[role, phase] = got
        return self.reads[role, phase]


@pytest.fixture(scope="module")
def matrix(dbname):
    world = Matrix(dbname)
    yield world
    world.app.close()


CASES = [
    pytest.param(role, section, phase, id=f"{role}-{section}-{phase}")
    for role in ROLES
    for section in SECTIONS
    for phase in PHASES
]


# --- the matrix ------------------------------------------------------------------

@pytest.mark.parametrize("role", [pytest.param(role, id=role) for role in ROLES])
def test_role_rights_table_follows_policy(matrix, role):
    rows = matrix.call(
        matrix.users[role],
        "select jsonb_object_agg(section, rights) from odl.rbac_role_rights where role_id = %s",
        (role,),
    )
    assert rows[0] == {section: role_rights(role, section) for section in SECTIONS}


@pytest.mark.parametrize("role, section, phase", CASES)
def test_read_follows_policy(matrix, role, section, phase):
    document, redacted = matrix.read(role, phase)
    pointer = f"/{section}"
    why = (
        f"{role} holds {role_rights(role, section)!r} on {section} ({POLICY['sections'][section]}) "
        f"with clearance {POLICY['roles'][role]['clearance']}; redacted {redacted}"
    )
    if may_read(role, section):
        assert pointer not in redacted, why
        assert document.get(section) == readable_document(role, DOC)[section], why
    else:
        assert pointer in redacted, why
        assert section not in document, why
    if section == ENVELOPE["section"]:
        for key in ENVELOPE["keys"]:
            assert document.get(key, "absent") == (DOC[key] if may_read(role, section) else "absent"), why
    for part in POLICY["classified_parts"]:
        if part.split("/")[1] == section and may_read(role, section):
            hidden = part in hidden_parts(role, section)
            assert (part in redacted) == hidden, why
            assert pointer_values(document, part.split("/")[1:]) == (
                [] if hidden else pointer_values(DOC, part.split("/")[1:])
            ), why


@pytest.mark.parametrize("role, section, phase", CASES)
def test_write_follows_policy(matrix, role, section, phase):
    expected = write_outcome(role, section, phase)
    got = matrix.call(
        matrix.users[role],
        "select outcome, version, change_id, redacted, document from odl.odl_apply_patch("
        "%s, %s, 1, dry_run => true)",
        (matrix.docs[phase], Jsonb(section_patch(section))),
    )
    outcome = got if isinstance(got, str) else got[0]
    gate = POLICY["phase_gates"][phase].get(section)
    assert outcome == expected, (
        f"{role} holds {role_rights(role, section)!r} on {section} in {phase} (gate {gate}): "
        f"expected {expected}, got {outcome}"
    )
    if expected in ("applied", "proposed"):
        _, version, change_id, redacted, document = got
        # A dry run writes nothing: an applied one shows the next version,
        # a proposed one the current; neither makes a change request.
        assert (version, change_id) == (2 if expected == "applied" else 1, None)
        # It shows the would-be document as the author may read it.
        assert redacted == matrix.read(role, phase)[1]
        assert set(document) == set(matrix.read(role, phase)[0])


@pytest.mark.parametrize(
    "role, action",
    [pytest.param(role, action, id=f"{role}-{action}") for role in ROLES for action in POLICY["actions"]],
)
def test_action_follows_policy(matrix, role, action):
    got = matrix.call(matrix.users[role], "select odl.odl_check_action(%s, %s)", (matrix.projects["design"], action))
    assert (got != "ODR01") == action_allowed(role, action), (
        f"{role} holds {role_rights(role, POLICY['actions'][action]['section'])!r} on "
        f"{POLICY['actions'][action]['section']}; {action} needs {POLICY['actions'][action]['rights']}: got {got}"
    )
    assert got == "ODR01" or got == ("",) or got == (None,)
