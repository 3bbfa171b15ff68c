"""The component index and the component status machine.

The expected machine is transcribed here from ODL-SD-SUPPLEMENT-FACTS.md 1.4
(the 19 normative statuses, the targets of each, R / A) and 1.3 (what an
approval needs), with the choices the README states where the facts name no
role; expected rights come from policy/access.json. Neither is read from
odl.component_transitions: the tests compare that table, and every decision
of the database, with them.
"""

from __future__ import annotations

import copy
import itertools
import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from conftest import server_conninfo
from test_access import World
from test_access_matrix import ROLES, role_rights

STATUSES = (
    "draft parsed enriched dedupe_pending compliance_pending approved available rfq_open rfq_awarded purchasing "
    "ordered shipped received installed commissioned operational warranty_active retired archived"
).split()

# From | targets (forward, back / side; the reference app's six other
# statuses left out) | R / A. "[impl] operations" is technician_operator;
# retired's row names nobody, so it takes the intake's engineer / expert.
FACTS = """
draft              | parsed archived                            | engineer / expert
parsed             | enriched draft archived                    | engineer / expert
enriched           | dedupe_pending parsed archived             | engineer / expert
dedupe_pending     | compliance_pending enriched archived       | engineer / expert
compliance_pending | approved dedupe_pending archived           | engineer / expert
approved           | available compliance_pending archived      | supplier_manager / project_manager expert
available          | rfq_open installed approved archived       | supplier_manager / project_manager
rfq_open           | rfq_awarded available archived             | supplier_manager / project_manager
rfq_awarded        | purchasing available archived              | supplier_manager / project_manager
purchasing         | ordered available archived                 | supplier_manager / project_manager
ordered            | shipped purchasing archived                | supplier_manager / project_manager
shipped            | received ordered archived                  | engineer /
received           | installed available archived               | engineer / expert
installed          | commissioned operational received retired  | engineer / expert
commissioned       | operational installed retired              | technician_operator /
operational        | warranty_active commissioned retired       | technician_operator /
warranty_active    | operational retired                        | technician_operator / compliance_officer
retired            | archived                                   | engineer / expert
archived           |                                            | engineer / expert
"""

# Approval gates the facts name: the approval record (-> approved), the
# approval gate (-> available), and issuing, awarding and raising a PO
# (R supplier_manager, A project_manager, 2.1).
NEEDS_APPROVAL = {("compliance_pending", "approved"), ("approved", "available"), ("available", "rfq_open"),
                  ("rfq_open", "rfq_awarded"), ("rfq_awarded", "purchasing")}
# What the record must hold after the change (1.3, 1.4's triggers).
REQUIRED = {
    ("draft", "parsed"): ["datasheet"],
    ("parsed", "enriched"): ["brand", "part_number", "rating_w", "classification"],
    ("compliance_pending", "approved"): ["brand", "part_number", "classification", "datasheet", "tracking_level",
                                         "supplier", "approval_record"],
    ("approved", "available"): ["supplier", "margins"],
}


def parse_facts() -> dict[tuple[str, str], tuple[set[str], set[str]]]:
    """(from, to) -> (roles that may, roles that approve)."""
    machine = {}
    for line in FACTS.strip().splitlines():
        source, targets, who = (part.strip() for part in line.split("|"))
        responsible, approvers = (set(side.split()) for side in who.split("/"))
        for target in targets.split():
            machine[source, target] = (responsible, approvers)
    return machine


MACHINE = parse_facts()
LIBRARY_APPROVERS = {role for role in ROLES if "A" in role_rights(role, "libraries")}


def expected(source: str | None, target: str | None, author: str, approver: str) -> str | None:
    """The SQLSTATE the facts give for a change of status made by an author
    holding one role and decided by an approver holding one, the record
    holding every field: None when legal."""
    if target is None or target not in STATUSES:
        return "ODK01"
    if source is None:
        return None if target == "draft" or approver in LIBRARY_APPROVERS else "ODK02"
    if (source, target) not in MACHINE:
        return "ODK01"
    responsible, approvers = MACHINE[source, target]
    if author not in responsible | approvers:
        return "ODK02"
    if (source, target) in NEEDS_APPROVAL and approver not in approvers:
        return "ODK03"
    return None


def record(status: str | None, key: str = "INV_A", **drop: bool) -> dict:
    """A component in the map form whose component_management holds every
    field a transition may require, less those named in drop."""
    management = {
        "component_identity": {
            "component_id": f"CMP:ACME:{key}:400W:A", "brand": "ACME", "part_number": key, "rating_w": 400,
            "name": f"ACME_{key}_400W", "classification": {"unspsc": "26111700", "gtin": "01234567890128"},
        },
        "source_documents": {"datasheet": {"type": "datasheet", "url": f"https://docs.example.com/{key}.pdf"}},
        "tracking_policy": {"level": "serial"},
        "supplier_chain": {
            "suppliers": [{"id": "SUP-001", "name": "Acme Supply", "status": "approved"}],
            "commercials": {"base_cost": 100, "margins": {"total_margin_pct": 12.5, "currency": "EUR",
                                                          "net_price": 112.5}},
        },
        "approvals": {"requested": True, "records": [{"role": "expert", "outcome": "approved"}]},
    }
    if status is not None:
        management["status"] = status
    component = {"category": "power_electronics", "component_management": management}
    for name in drop:
        if name == "datasheet":
            del management["source_documents"]
        elif name == "brand":
            del management["component_identity"]["brand"]
        elif name == "classification":
            del management["component_identity"]["classification"]
        elif name == "supplier":
            management["supplier_chain"]["suppliers"] = []
        elif name == "margins":
            del management["supplier_chain"]["commercials"]
        elif name == "approval_record":
            management["approvals"]["records"] = [{"role": "expert", "outcome": "rejected"}]
        elif name == "tracking_level":
            del management["tracking_policy"]
        else:
            raise ValueError(name)
    return component


def document(components) -> dict:
    return {
        "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
        "schema_version": "4.1",
        "meta": {"project": "Components", "domain": "PV", "scale": "UTILITY"},
        "hierarchy": {"type": "PORTFOLIO", "id": "PF-1"},
        "libraries": {"components": components},
        "instances": [],
    }


# --- the machine as data, against the facts -------------------------------------

def test_the_transitions_table_is_the_facts(conn):
    rows = conn.execute(
        "select from_status, to_status, roles, approver_roles, needs_approval, required "
        "from odl.component_transitions"
    ).fetchall()
    table = {(f, t): (set(r), set(a), n, list(q)) for f, t, r, a, n, q in rows}
    facts = {pair: (r, a, pair in NEEDS_APPROVAL, REQUIRED.get(pair, [])) for pair, (r, a) in MACHINE.items()}
    assert table == facts
    assert [s for (s,) in conn.execute("select status from odl.component_statuses order by position")] == STATUSES


def test_every_pair_of_statuses_for_every_pair_of_roles_is_decided_as_the_facts_say(conn):
    """20 sources (null: a new component) x 20 targets (null: status removed)
    x 16 authors x 16 approvers, all in one query."""
    sources = [None, *STATUSES]
    targets = [None, *STATUSES]
    got = conn.execute(
        """
        select s.status, t.status, a.role, p.role, r.code
        from unnest(%(sources)s::text[]) as s (status)
        cross join unnest(%(targets)s::text[]) as t (status)
        cross join unnest(%(roles)s::text[]) as a (role)
        cross join unnest(%(roles)s::text[]) as p (role)
        cross join lateral odl.component_transition_refusal(
            s.status, t.status, array[a.role], array[p.role], %(record)s
        ) as r
        where s.status is distinct from t.status or s.status is null
        """,
        {"sources": sources, "targets": targets, "roles": ROLES, "record": Jsonb(record(None))},
    ).fetchall()
    assert len(got) == (len(sources) * len(targets) - len(STATUSES)) * len(ROLES) ** 2
    decided = {(s, t, a, p): code for s, t, a, p, code in got}
    wanted = {(s, t, a, p): expected(s, t, a, p) for s, t, a, p in decided}
    wrong = [(key, decided[key], wanted[key]) for key in decided if decided[key] != wanted[key]]
    assert wrong == []
    legal = sum(code is None for code in decided.values())
    assert 0 < legal < len(decided)


@pytest.mark.parametrize("pair", sorted(REQUIRED))
def test_a_transition_refuses_a_record_without_a_field_it_requires(conn, pair):
    source, target = pair
    responsible, approvers = MACHINE[pair]
    author = sorted(responsible | approvers)[0]
    approver = sorted(approvers)[0] if approvers else author
    for name in REQUIRED[pair]:
        if name in ("part_number", "rating_w"):
            continue  # removed with the identity in record(); brand stands for them
        code, reason = conn.execute(
            "select code, reason from odl.component_transition_refusal(%s, %s, %s, %s, %s)",
            (source, target, [author], [approver], Jsonb(record(target, **{name: True}))),
        ).fetchone()
        assert code == "ODK04", (pair, name)
        assert "lacks" in reason


# --- every write path -------------------------------------------------------------

class Team(World):
    """A World with the roles the machine names, each a user at the PORTFOLIO."""

    def __init__(self, dbname, connect):
        super().__init__(dbname, connect)
        self.users = {role: self.user(role) for role in ROLES if role != "guest"}
        self.users["super_user"] = self.admin

    def index(self, doc_id: str) -> dict[str, str | None]:
        return dict(self.as_role(
            "postgres", "select component_key, status from odl.component_index where doc_id = %s", (doc_id,)
        ))

    def set_status(self, role: str, doc_id: str, key: str, status: str, propose: bool = False):
        """odl_set_component_status() as the role's user: the outcome row or the SQLSTATE."""
        rows, error = self.attempt(
            self.users[role],
            "select version, outcome, change_id from odl.odl_set_component_status(%s, %s, %s, %s, propose => %s)",
            (doc_id, key, status, self.version(doc_id), propose),
        )
        return error.sqlstate if error is not None else rows[0]


@pytest.fixture
def team(dbname, connect):
    built = Team(dbname, connect)
    yield built
    built.conn.rollback()


def test_every_pair_of_statuses_is_decided_by_the_writer_as_the_facts_say(team):
    """Each of the 342 changes, as odl_set_component_status() by the roles
    that the machine names as responsible and by one that may not even read
    the libraries: the status changes in the index exactly when the facts
    allow it, and a refusal changes nothing. (Every pair of roles is decided
    above by the function the projector calls.)"""
    project, doc_id = team.project(doc=document({s: record(s, s.upper()) for s in STATUSES}))
    assert team.index(doc_id) == {s: s for s in STATUSES}
    version = team.version(doc_id)
    named = set().union(*(r | a for r, a in MACHINE.values()))
    index = "select status from odl.component_index where doc_id = %s and component_key = %s"
    decided = {}
    for role in ("engineer", "supplier_manager", "technician_operator", "financial_analyst"):
        team.act_as(team.users[role])
        for source, target in itertools.permutations(STATUSES, 2):
            with team.conn.transaction(force_rollback=True):
                try:
                    with team.conn.transaction():
                        team.conn.execute(
                            "select outcome from odl.odl_set_component_status(%s, %s, %s, %s)",
                            (doc_id, source, target, version),
                        )
                    decided[role, source, target] = team.as_role("postgres", index, (doc_id, source))[0][0]
                except psycopg.Error as error:
                    decided[role, source, target] = error.sqlstate
    wanted = {}
    for role, source, target in decided:
        want = expected(source, target, role, role)
        if role not in named and "R" not in role_rights(role, "libraries"):
            want = "ODR01"
        wanted[role, source, target] = target if want is None else want
    assert {k: v for k, v in decided.items() if v != wanted[k]} == {}
    assert len(decided) == 4 * 342
    assert team.version(doc_id) == version
    assert team.index(doc_id) == {s: s for s in STATUSES}


def test_a_transition_that_needs_approval_is_proposed_and_merged_by_its_approver(team):
    project, doc_id = team.project(doc=document({"inv": record("approved")}))
    assert team.set_status("supplier_manager", doc_id, "inv", "available") == "ODK03"
    _, outcome, change = team.set_status("supplier_manager", doc_id, "inv", "available", propose=True)
    assert outcome == "proposed"
    assert team.index(doc_id) == {"inv": "approved"}
    # A merge by someone the transition does not name as approver is refused
    # whole: the change stays pending, the document as it was.
    assert team.approve(team.users["asset_owner"], change) == "ODK03"
    assert team.index(doc_id) == {"inv": "approved"}
    assert change in team.changes(team.admin, project)
    assert team.approve(team.users["project_manager"], change)[0] == "merged"
    assert team.index(doc_id) == {"inv": "available"}


def test_a_patch_changing_a_status_is_checked_when_it_is_merged(team):
    """odl_apply_patch() holds every libraries change for an approver; the
    merge runs the projector with the author's roles and the approver's."""
    _, doc_id = team.project(doc=document({"inv": record("draft"), "mod": record("shipped", "MOD")}))
    legal = team.patch(team.users["engineer"], doc_id, [
        {"op": "replace", "path": "/libraries/components/inv/component_management/status", "value": "parsed"},
        {"op": "replace", "path": "/libraries/components/mod/component_management/status", "value": "received"},
    ])
    assert legal["outcome"] == "proposed"
    assert team.approve(team.users["expert"], legal["change_id"])[0] == "merged"
    assert team.index(doc_id) == {"inv": "parsed", "mod": "received"}
    # One illegal change fails the whole patch.
    mixed = team.patch(team.users["engineer"], doc_id, [
        {"op": "replace", "path": "/libraries/components/inv/component_management/status", "value": "enriched"},
        {"op": "replace", "path": "/libraries/components/mod/component_management/status", "value": "commissioned"},
    ])
    version = team.version(doc_id)
    team.act_as(team.users["expert"])
    with pytest.raises(psycopg.Error) as refused, team.conn.transaction():
        team.conn.execute("select * from odl.odl_approve_change(%s, 'approved')", (mixed["change_id"],))
    assert refused.value.sqlstate == "ODK01"
    assert refused.value.diag.message_primary.startswith(
        "component status cannot change from received to commissioned: no transition leads there"
    )
    assert "/libraries/components/mod/component_management/status" in refused.value.diag.message_detail
    assert team.version(doc_id) == version
    assert team.index(doc_id) == {"inv": "parsed", "mod": "received"}
    # A change whose author the machine does not name is refused at merge.
    other = team.patch(team.users["supplier_manager"], doc_id, [
        {"op": "replace", "path": "/libraries/components/inv/component_management/status", "value": "enriched"},
    ])
    assert team.approve(team.users["expert"], other["change_id"]) == "ODK02"


def test_a_new_component_starts_as_draft_unless_a_library_approver_brings_it_in(team):
    project, _ = team.project(doc=None)
    # client may create documents (W on meta, R on all), not approve library changes.
    for role, status, want in (("client", "draft", None), ("client", "approved", "ODK02"),
                               ("client", "sourcing", "ODK01"), ("expert", "approved", None)):
        error = team.error(team.users[role], "select odl.odl_create_document(%s, %s)",
                           (project, Jsonb(document({"inv": record(status)}))))
        assert (error and error.sqlstate) == want, (role, status)
    _, doc_id = team.project(doc=document({"inv": record("draft")}))
    # Adding or removing a whole component reaches its confidential pricing:
    # the administrator (super_user) writes it.
    added = team.patch(team.admin, doc_id, [
        {"op": "add", "path": "/libraries/components/new_one", "value": record("shipped", "NEW")},
    ])
    assert team.approve(team.users["project_manager"], added["change_id"])[0] == "merged"
    assert team.index(doc_id) == {"inv": "draft", "new_one": "shipped"}


def test_a_revert_is_held_to_the_machine(team):
    _, doc_id = team.project(doc=document({"inv": record("shipped")}))
    for role, target in (("engineer", "received"), ("engineer", "installed")):
        assert team.set_status(role, doc_id, "inv", target)[1] == "applied"
    # installed -> shipped (a revert to version 1) has no transition.
    reverted = team.row(team.users["engineer"], "select outcome, change_id from odl.odl_revert_document(%s, 1, %s)",
                        (doc_id, team.version(doc_id)))
    assert reverted[0] == "proposed"
    assert team.approve(team.users["expert"], reverted[1]) == "ODK01"
    # installed -> received (a revert to version 2) is a step back.
    reverted = team.row(team.users["engineer"], "select outcome, change_id from odl.odl_revert_document(%s, 2, %s)",
                        (doc_id, team.version(doc_id)))
    assert team.approve(team.users["expert"], reverted[1])[0] == "merged"
    assert team.index(doc_id) == {"inv": "received"}


def test_removing_a_status_is_refused_and_removing_a_component_is_not(team):
    _, doc_id = team.project(doc=document({"inv": record("draft"), "mod": record("draft", "MOD")}))
    removed = team.patch(team.users["engineer"], doc_id, [
        {"op": "remove", "path": "/libraries/components/inv/component_management/status"}])
    assert team.approve(team.users["expert"], removed["change_id"]) == "ODK01"
    gone = team.patch(team.admin, doc_id, [{"op": "remove", "path": "/libraries/components/inv"}])
    assert team.approve(team.users["expert"], gone["change_id"])[0] == "merged"
    assert team.index(doc_id) == {"mod": "draft"}


def test_set_component_status_names_unknown_components_and_readers_without_rights(team):
    _, doc_id = team.project(doc=document({"inv": record("draft")}))
    assert team.set_status("engineer", doc_id, "nope", "parsed") == "ODK05"
    assert team.set_status("engineer", doc_id, "inv", "draft") == "ODK01"
    assert team.set_status("financial_analyst", doc_id, "inv", "parsed") == "ODR01"
    applied = team.set_status("engineer", doc_id, "inv", "parsed")
    assert applied[1] == "applied"
    actions = [a for (a,) in team.as_role(
        "postgres", "select action from odl.audit_events where doc_id = %s order by seq", (doc_id,))]
    assert actions[-2:] == ["patch.applied", "component.status_changed"]


def test_the_index_carries_identity_classification_and_status_of_every_form(team):
    array_doc = document([
        {"id": "CMP:ACME:INV_A:400W:A", **record("approved")},
        {**record("draft", "INV_B")},          # no id: its component_id names it
        {"id": "CMP:ACME:INV_A:400W:A", **record("parsed")},  # the name again: the first wins
    ])
    _, array_id = team.project(doc=array_doc)
    rows = team.as_role("postgres", """
        select component_key, entry, occurrences, component_id, brand, part_number, rating_w, unspsc, gtin, status,
            tracking_level
        from odl.component_index where doc_id = %s order by component_key""", (array_id,))
    assert rows == [
        ("CMP:ACME:INV_A:400W:A", "0", 2, "CMP:ACME:INV_A:400W:A", "ACME", "INV_A", 400, "26111700",
         "01234567890128", "approved", "serial"),
        ("CMP:ACME:INV_B:400W:A", "1", 1, "CMP:ACME:INV_B:400W:A", "ACME", "INV_B", 400, "26111700",
         "01234567890128", "draft", "serial"),
    ]
    grouped = document({
        "inverters": {"central": {"category": "power_electronics", "metadata": {"manufacturer": "Volt",
                                                                                  "model": "C-1"}, "rating_w": 5e6}},
        "module": {"category": "generation"},
    })
    _, grouped_id = team.project(doc=grouped)
    rows = team.as_role("postgres", """
        select component_key, entry, group_key, component_id, brand, part_number, rating_w, status
        from odl.component_index where doc_id = %s order by component_key""", (grouped_id,))
    assert rows == [("central", "inverters", "inverters", "central", "Volt", "C-1", 5000000, None),
                    ("module", "module", None, "module", None, None, None, None)]


def test_analysts_read_components_and_their_instances_where_they_may_read_libraries(team):
    doc = document({"inv": record("approved")})
    doc["instances"] = [{"id": "INV-1", "type_ref": "inv", "lifecycle_status": "installed"}]
    project, doc_id = team.project(doc=doc)
    viewer = team.users["project_manager"]
    shown = team.analyst(viewer, "select component_key, brand, status, pointer from odl.readable_components "
                         "where project_id = %s", (project,))
    assert shown == [("inv", "ACME", "approved", "/libraries/components/inv")]
    assert team.analyst(viewer, "select instance_id, component_key, component_status "
                        "from odl.analyst_component_instances where project_id = %s", (project,)) == [
        ("INV-1", "inv", "approved")]
    # financial_analyst holds no right on libraries.
    assert team.analyst(team.users["financial_analyst"], "select count(*) from odl.readable_components "
                        "where project_id = %s", (project,)) == [(0,)]


# --- the index equals a rebuild, whatever the patches ---------------------------

def jsonb_order(mapping: dict) -> list[str]:
    """jsonb's order of an object's keys: shorter first, then by bytes."""
    return sorted(mapping, key=lambda k: (len(k.encode()), k.encode()))


def entries(doc: dict) -> list[tuple[str, str, str | None, dict, str]]:
    """Every component entry in document order: (key, entry, group, value, pointer)."""
    def esc(text: str) -> str:
        return text.replace("~", "~0").replace("/", "~1")

    found = []
    components = doc.get("libraries", {}).get("components")
    if isinstance(components, list):
        for i, value in enumerate(components):
            if not isinstance(value, dict):
                continue
            key = value.get("id")
            if not isinstance(key, str):
                key = value.get("component_management", {}).get("component_identity", {}).get("component_id")
            if isinstance(key, str):
                found.append((key, str(i), None, value, f"/libraries/components/{i}"))
    elif isinstance(components, dict):
        for name in jsonb_order(components):
            value = components[name]
            if not isinstance(value, dict):
                continue
            grouped = "category" not in value and all(isinstance(v, dict) and "category" in v for v in value.values())
            if not grouped:
                found.append((name, name, None, value, f"/libraries/components/{esc(name)}"))
                continue
            for member in jsonb_order(value):
                found.append((member, name, name, value[member],
                              f"/libraries/components/{esc(name)}/{esc(member)}"))
    return found


def reference(doc: dict) -> dict[str, tuple]:
    """The index rows a full rebuild must give, by key: the first entry wins."""
    rows: dict[str, tuple] = {}
    counts: dict[str, int] = {}
    for key, entry, group, value, _ in entries(doc):
        counts[key] = counts.get(key, 0) + 1
        if key in rows:
            continue
        management = value.get("component_management", {})
        identity = management.get("component_identity", {})
        rows[key] = (entry, group, identity.get("brand"), management.get("status"))
    return {key: (*row[:2], counts[key], *row[2:]) for key, row in rows.items()}


def stored_index(su: psycopg.Connection, doc_id: str) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in su.execute(
        "select component_key, entry, group_key, occurrences, brand, status from odl.component_index "
        "where doc_id = %s", (doc_id,))}


def rebuilt_index(su: psycopg.Connection, doc_id: str) -> list[tuple]:
    """A rebuild from the stored document, in a transaction rolled back."""
    query = "select i from odl.component_index as i where i.doc_id = %s order by i.component_key"
    with su.transaction(force_rollback=True):
        before = su.execute(query, (doc_id,)).fetchall()
        su.execute("select odl.rebuild_components(%s)", (doc_id,))
        after = su.execute(query, (doc_id,)).fetchall()
    return before, after


def apply(doc: dict, patch: list[dict]) -> dict:
    """RFC 6902 add, remove and move, as the tests use them."""
    doc = copy.deepcopy(doc)

    def locate(pointer: str):
        steps = [s.replace("~1", "/").replace("~0", "~") for s in pointer.split("/")[1:]]
        parent = doc
        for step in steps[:-1]:
            parent = parent[int(step)] if isinstance(parent, list) else parent[step]
        return parent, steps[-1]

    def remove(pointer: str):
        parent, key = locate(pointer)
        return parent.pop(int(key)) if isinstance(parent, list) else parent.pop(key)

    def add(pointer: str, value) -> None:
        parent, key = locate(pointer)
        if isinstance(parent, list):
            parent.insert(len(parent) if key == "-" else int(key), value)
        else:
            parent[key] = value

    for op in patch:
        if op["op"] == "move":
            add(op["path"], remove(op["from"]))
        elif op["op"] == "remove":
            remove(op["path"])
        else:
            add(op["path"], op["value"])
    return doc


KEYS = ["inv", "mod", "bat", "tr/1", "x~y", "CMP:ACME:INV_A:400W:A"]
PICKS = [*STATUSES, "sourcing"]


@st.composite
def component_sets(draw):
    form = draw(st.sampled_from(["map", "grouped", "array"]))
    chosen = draw(st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(STATUSES)), min_size=1, max_size=5))
    if form == "array":
        return [{"id": key, **record(status)} for key, status in chosen]
    if form == "map":
        return {key: record(status) for key, status in chosen}
    return {"group_a": {key: record(status) for key, status in chosen[::2]},
            **{key: record(status) for key, status in chosen[1::2]}}


def random_patch(draw, doc: dict) -> tuple[str, list[dict]]:
    """One change of the components: (author, patch). Status and brand
    changes are the engineer's; whole components the administrator's."""
    found = entries(doc)
    components = doc["libraries"]["components"]
    kind = draw(st.sampled_from(["status", "status", "status", "brand", "add", "remove", "move", "replace"]))
    if kind in ("status", "brand") and found:
        _, _, _, _, pointer = draw(st.sampled_from(found))
        if kind == "status":
            return "engineer", [{"op": "add", "path": f"{pointer}/component_management/status",
                                 "value": draw(st.sampled_from(PICKS))}]
        return "engineer", [{"op": "add", "path": f"{pointer}/component_management/component_identity/brand",
                             "value": draw(st.sampled_from(["ACME", "Volt", "Sol"]))}]
    if kind == "remove" and found:
        return "super_user", [{"op": "remove", "path": draw(st.sampled_from(found))[4]}]
    if kind == "move" and found:
        if isinstance(components, list):
            last = len(components) - 1
            return "super_user", [{"op": "move", "from": f"/libraries/components/{draw(st.integers(0, last))}",
                                   "path": f"/libraries/components/{draw(st.integers(0, last))}"}]
        source = draw(st.sampled_from(found))[4]
        target = "/libraries/components/" + draw(st.sampled_from(["moved", "inv2", "mod"]))
        if target == source or target.startswith(source + "/") or target[len("/libraries/components/"):] in components:
            return "super_user", [{"op": "remove", "path": source}]
        return "super_user", [{"op": "move", "from": source, "path": target}]
    if kind == "replace":
        return "super_user", [{"op": "add", "path": "/libraries/components", "value": draw(component_sets())}]
    status = draw(st.sampled_from(PICKS))
    key = draw(st.sampled_from(KEYS))
    if isinstance(components, list):
        return "super_user", [{"op": "add", "path": f"/libraries/components/{draw(st.integers(0, len(components)))}",
                               "value": {"id": key, **record(status)}}]
    return "super_user", [{"op": "add", "path": "/libraries/components/" + key.replace("~", "~0").replace("/", "~1"),
                           "value": record(status)}]


def predicted(before: dict, after: dict, author: str, approver: str) -> str | None:
    """The first refusal the facts give for the status changes from one
    document to the next (keys in order, as the projector checks them)."""
    old, new = reference(before), reference(after)
    for key in sorted(new, key=lambda k: k.encode()):
        source = old[key][4] if key in old else None
        target = new[key][4]
        if source == target:
            continue
        code = expected(source if source in STATUSES else None, target, author, approver)
        if code is not None:
            return code
    return None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_index_equals_a_rebuild_after_any_patches(team, data):
    """Random patches through odl_apply_patch() and the merge of their change
    request by an expert: after each, the index equals a rebuild from the
    stored document and the facts' reading of it; a merge is refused exactly
    when the facts refuse one of its status changes, and then changes
    nothing."""
    with team.conn.transaction(force_rollback=True):
        doc = document(data.draw(component_sets(), label="components"))
        _, doc_id = team.project(doc=doc)
        for _ in range(data.draw(st.integers(1, 10), label="steps")):
            author, patch = random_patch(data.draw, doc)
            after = apply(doc, patch)
            proposed = team.patch(team.users[author], doc_id, patch)
            assert proposed["outcome"] == "proposed"
            want = predicted(doc, after, author, "expert")
            merged = team.approve(team.users["expert"], proposed["change_id"])
            if want is None:
                assert merged[0] == "merged", (patch, merged)
                doc = after
            else:
                assert merged == want, patch
            team.become("postgres")
            try:
                before, rebuilt = rebuilt_index(team.conn, doc_id)
                assert before == rebuilt
                assert stored_index(team.conn, doc_id) == reference(doc)
            finally:
                team.become("odl_app")


# --- the seed's question from the index alone -----------------------------------

SAMPLE = """
    select component_id, brand, part_number, rating_w
    from odl.component_index
    where tenant_id = %s and status = 'approved'
    order by brand, part_number
"""


def test_approved_components_by_brand_and_part_come_from_an_index_only_scan(dbname, tenant, access):
    """The seed's sample query over 3,000 components (a tenth approved), as
    the owner under RLS in the tenant's context, after a vacuum: an
    index-only scan of the covering index, no heap fetch, no sort."""
    access.assign("super_user")
    with psycopg.connect(server_conninfo(dbname=dbname, user="odl_app")) as app:
        app.execute("select odl.odl_set_context(%s, %s)", tenant)
        project = app.execute("select odl.odl_create_project(%s)", (f"index-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
        app.commit()
        access.attach(project)
        components = {
            f"c{n:04d}": {"category": "generation", "component_management": {
                "status": STATUSES[n % 10 * 2 % 19] if n % 10 else "approved",
                "component_identity": {"brand": f"Brand{n % 37}", "part_number": f"P-{n}", "rating_w": 400 + n}}}
            for n in range(3000)
        }
        # Vacuum marks a page all-visible only once its rows' commit is on
        # disk (hint bits): the test cluster commits asynchronously.
        app.execute("set synchronous_commit = on")
        app.execute("select odl.odl_set_context(%s, %s)", tenant)
        app.execute("select odl.odl_create_document(%s, %s)", (project, Jsonb(document(components))))
        app.commit()
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        su.execute("vacuum (analyze) odl.component_index")
        with su.transaction():
            su.execute("select odl.odl_set_context(%s, %s)", tenant)
            su.execute("set local role odl_owner")
            plan = "\n".join(row[0] for row in su.execute(
                "explain (analyze, costs off, timing off, summary off) " + SAMPLE, (tenant[0],)))
            rows = su.execute(SAMPLE, (tenant[0],)).fetchall()
    assert "Index Only Scan using component_index_status_brand_part_idx on component_index" in plan, plan
    assert "Heap Fetches: 0" in plan, plan
    assert "Sort Key: component_index" not in plan and "Seq Scan on component_index" not in plan, plan
    assert len(rows) == 300
    assert rows == sorted(rows, key=lambda r: (r[1], r[2]))
