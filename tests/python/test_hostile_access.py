"""What a hostile caller may see and do through the access API (issue 10):
change requests and history redacted like a read, security barriers on the
views that filter rows, stale copies into arrays, approval ids that count
nothing outside the tenant, who may create a project, and reverts with a
missing argument. Each test builds its own tenant (test_access.World) in a
transaction that is rolled back; each fails on v0.1.0."""

from __future__ import annotations

import copy

import pytest

from test_access import DOC, World, add, replace, secrets_in  # noqa: F401

PRICING = "/libraries/components/*/pricing"
NEW_PRICE = [{"op": "replace", "path": "/libraries/components/0/pricing/unit_price", "value": "SECRET-NEWPRICE"}]
NEW_COMPONENT = [
    {
        "op": "add",
        "path": "/libraries/components/-",
        "value": {
            "id": "CMP:Volta:VSI-300:300000:A", "category": "inverter", "status": "draft",
            "pricing": {"unit_price": 999, "note": "SECRET-NEWCOMPONENT"},
        },
    }
]


@pytest.fixture
def world(dbname, connect):
    built = World(dbname, connect)
    yield built
    built.conn.rollback()


@pytest.fixture
def market(world):
    """A design project at the PLANT with a supplier_manager (W and A on
    libraries, confidential clearance), an expert who approves, and three
    readers of libraries who may not read the confidential pricing: a
    guest, an engineer and a data_analyst."""
    w = world
    w.supplier = w.user("supplier_manager")
    w.expert = w.user("expert")
    w.guest = w.user("guest", mfa=False)
    w.engineer = w.user("engineer")
    w.data_analyst = w.user("data_analyst", mfa=False)
    w.project_id, w.doc_id = w.project()
    return w


def change_rows(w: World, user: str, status: str | None = "pending", analyst: bool = False) -> dict[str, dict]:
    """odl_change_requests() of the project by change_id, as odl_app or as
    odl_analyst in the user's context."""
    query = "select to_jsonb(c) from odl.odl_change_requests(%s, %s) as c"
    rows = w.analyst(user, query, (w.project_id, status)) if analyst else w.rows(user, query, (w.project_id, status))
    return {row[0]["change_id"]: row[0] for row in rows}


def shown(row: dict) -> tuple:
    return row["patch"], row.get("redacted"), row["intent"]


# --- change requests are redacted like a read ----------------------------------

@pytest.mark.parametrize("reader", ["guest", "engineer", "data_analyst"])
@pytest.mark.parametrize("analyst", [False, True], ids=["app", "analyst"])
def test_pending_and_merged_price_changes_hide_the_confidential_price(market, reader, analyst):
    w = market
    proposed = w.patch(w.supplier, w.doc_id, NEW_PRICE, intent="new price SECRET-INTENT")
    assert proposed["outcome"] == "proposed"
    seen = change_rows(w, getattr(w, reader), "pending", analyst)[proposed["change_id"]]
    assert secrets_in(seen) == [], seen
    assert shown(seen) == (None, [PRICING], None)
    assert seen["sections"] == ["libraries"]

    # An approver with the clearance sees all of it, and merges it.
    whole = change_rows(w, w.expert, "pending")[proposed["change_id"]]
    assert shown(whole) == (NEW_PRICE, [], "new price SECRET-INTENT")
    assert w.approve(w.expert, proposed["change_id"])[0] == "merged"
    merged = change_rows(w, getattr(w, reader), "merged", analyst)[proposed["change_id"]]
    assert secrets_in(merged) == [] and merged.get("redacted") == [PRICING]


def test_a_value_holding_a_confidential_part_is_shown_without_it(market):
    w = market
    proposed = w.patch(w.supplier, w.doc_id, NEW_COMPONENT + add("/libraries/x-note", "visible"))
    for reader in (w.guest, w.engineer, w.data_analyst):
        seen = change_rows(w, reader)[proposed["change_id"]]
        visible = copy.deepcopy(NEW_COMPONENT + add("/libraries/x-note", "visible"))
        del visible[0]["value"]["pricing"]
        assert secrets_in(seen) == [] and shown(seen) == (visible, [PRICING], None)
    assert change_rows(w, w.expert)[proposed["change_id"]]["patch"] == NEW_COMPONENT + add("/libraries/x-note", "visible")


def test_operations_into_unreadable_sections_are_left_out_of_a_mixed_patch(market):
    w = market
    mixed = add("/finance/x-offer", "SECRET-OFFER") + add("/instances/0/x-note", "visible")
    proposed = w.patch(w.admin, w.doc_id, mixed, propose=True, intent="offer SECRET-INTENT")
    seen = change_rows(w, w.engineer)[proposed["change_id"]]
    assert secrets_in(seen) == [] and shown(seen) == (
        add("/instances/0/x-note", "visible"), ["/finance"], None
    )
    assert sorted(seen["sections"]) == ["finance", "instances"]


# --- history is redacted like a read ----------------------------------------------

def test_history_hides_intent_and_evidence_of_changes_the_reader_cannot_read(market):
    w = market
    evidence = ["https://evidence.example/SECRET-EVIDENCE"]
    above = replace("/libraries/components/0", {"id": "CMP:X:Y:1:A", "status": "draft", "pricing": {"unit_price": 1}})
    for patch, intent in ((NEW_PRICE, "SECRET-PRICE-INTENT"), (above, "SECRET-ABOVE-INTENT")):
        proposed = w.patch(w.supplier, w.doc_id, patch, intent=intent, evidence_uris=evidence)
        assert w.approve(w.expert, proposed["change_id"])[0] == "merged"
    assert w.outcome(w.engineer, w.doc_id, add("/instances/0/x-note", 3), intent="visible intent",
                     evidence_uris=["https://evidence.example/visible"]) == "applied"
    query = "select version, intent, evidence_uris from odl.odl_document_history(%s) order by version"

    for reader in (w.guest, w.engineer, w.data_analyst):
        history = w.rows(reader, query, (w.doc_id,))
        assert secrets_in([list(row) for row in history]) == [], history
        assert history == [
            (1, None, None), (2, None, None), (3, None, None),
            (4, "visible intent", ["https://evidence.example/visible"]),
        ]
        assert w.analyst(reader, query, (w.doc_id,)) == history
    whole = w.rows(w.expert, query, (w.doc_id,))
    assert whole[1:3] == [(2, "SECRET-PRICE-INTENT", evidence), (3, "SECRET-ABOVE-INTENT", evidence)]


def test_the_audit_trail_hides_the_intent_of_changes_the_reader_cannot_read(market):
    """A technician_operator may read audit but not the confidential
    pricing: the ledger's patch events show them no intent; an
    auditor_legal, who reads everything, sees it."""
    w = market
    technician = w.user("technician_operator", mfa=False)
    auditor = w.user("auditor_legal", mfa=False)
    proposed = w.patch(w.supplier, w.doc_id, NEW_PRICE, intent="SECRET-AUDIT-INTENT")
    assert w.approve(w.expert, proposed["change_id"])[0] == "merged"
    query = "select action, payload from odl.audit_trail where doc_id = %s and action like 'patch.%%' order by seq"
    hidden = w.analyst(technician, query, (w.doc_id,))
    assert "patch.applied" in [action for action, _ in hidden], hidden
    assert secrets_in([list(row) for row in hidden]) == [], hidden
    shown = w.analyst(auditor, query, (w.doc_id,))
    assert [action for action, _ in shown] == [action for action, _ in hidden]
    assert "SECRET-AUDIT-INTENT" in [payload.get("intent") for _, payload in shown]


# --- views that filter rows are security barriers -----------------------------------

LEAK = """
    create function pg_temp.leak(seen text) returns boolean
    language plpgsql cost 0.000001 as $$
    begin
        raise notice 'LEAK %', seen;
        return true;
    end
    $$
"""


def leaked(w: World, user: str, query: str) -> tuple[list[tuple], list[str]]:
    """The rows of a query as odl_analyst in the user's context, and the
    values pg_temp.leak() was shown."""
    notices: list[str] = []

    def keep(diagnostic):
        if diagnostic.message_primary and diagnostic.message_primary.startswith("LEAK "):
            notices.append(diagnostic.message_primary[5:])

    w.conn.add_notice_handler(keep)
    try:
        with w.conn.transaction():
            w.become("odl_analyst")
            w.conn.execute(LEAK)
            w.conn.execute("select odl.odl_set_context(%s, %s)", (w.tenant, user))
            rows = w.conn.execute(query).fetchall()
            w.become("odl_app")
    finally:
        w.conn.remove_notice_handler(keep)
    return rows, notices


def test_a_leaky_function_sees_no_document_the_view_filters_out(market):
    w = market
    hidden, hidden_doc = w.project(at="SIBLING")
    reader = w.new_user("engineer")
    w.assign(reader, "PLANT", "engineer")
    rows, seen = leaked(w, reader, "select doc_id from odl.readable_documents where pg_temp.leak(doc_id::text)")
    assert rows == [(w.doc_id,)]
    assert hidden_doc not in seen and set(seen) <= {w.doc_id}


def test_a_leaky_function_sees_no_audit_event_the_view_filters_out(market):
    w = market
    rows, seen = leaked(
        w, w.engineer, "select seq from odl.audit_trail where pg_temp.leak(action || ' ' || payload::text)"
    )
    assert rows == [] and seen == []


def test_a_leaky_function_sees_no_instance_the_view_filters_out(market):
    w = market
    outsider = w.new_user("engineer")
    rows, seen = leaked(
        w, outsider, "select instance_id from odl.readable_instances where pg_temp.leak(instance_id)"
    )
    assert rows == [] and seen == []


def test_the_security_audit_finds_no_filtering_view_without_a_barrier(world):
    assert world.as_role(
        "postgres", "select * from odl.odl_security_audit() where finding = 'view_not_security_barrier'"
    ) == []
    assert world.as_role(
        "postgres",
        "select c.relname::text from pg_class as c where c.relnamespace = 'odl'::regnamespace and c.relkind = 'v' "
        "and not coalesce(c.reloptions @> array['security_barrier=true'], false) order by 1",
    ) == []


# --- a copy into an array is a change of the whole array ------------------------------

@pytest.mark.parametrize(
    "later",
    [
        pytest.param([{"op": "copy", "from": "/connections/1", "path": "/connections/0"}], id="copy"),
        pytest.param([{"op": "move", "from": "/connections/6", "path": "/connections/0"}], id="move"),
        pytest.param(add("/connections/0", {**DOC["connections"][2], "id": "CN-NEW"}), id="add"),
        pytest.param([{"op": "remove", "path": "/connections/0"}], id="remove"),
    ],
)
def test_approved_copy_is_stale_once_an_array_shifted_under_it(world, later):
    w = world
    engineer = w.user("engineer")
    expert = w.user("expert")
    _, doc_id = w.project()
    proposal = [{"op": "copy", "from": "/connections/3", "path": "/connections/4"}]
    proposed = w.patch(engineer, doc_id, proposal, propose=True)
    assert proposed["outcome"] == "proposed"
    assert w.outcome(engineer, doc_id, later) == "applied"
    before = w.stored(doc_id)
    assert w.approve(expert, proposed["change_id"]) == "ODR05"
    assert w.stored(doc_id) == before


def test_approved_copy_into_an_array_still_merges_when_only_another_element_changed(world):
    w = world
    engineer = w.user("engineer")
    expert = w.user("expert")
    _, doc_id = w.project()
    proposed = w.patch(engineer, doc_id, [{"op": "copy", "from": "/connections/3", "path": "/connections/4"}],
                       propose=True)
    assert w.outcome(engineer, doc_id, add("/connections/0/x-note", "beside")) == "applied"
    assert w.approve(expert, proposed["change_id"])[:2] == ("merged", 3)
    merged = w.stored(doc_id)["connections"]
    assert merged[4] == merged[3] == {**DOC["connections"][3]}


# --- approval ids count the tenant's approvals only -------------------------------------

def test_approval_ids_count_only_the_tenants_own_approvals(world):
    w = world
    engineer = w.user("engineer")
    expert = w.user("expert")
    _, doc_id = w.project()
    last_value = "select last_value from pg_sequences where schemaname = 'odl' and sequencename = %s"
    sequence_before = w.as_role("postgres", last_value, ("approvals_approval_id_seq",))
    changes = [w.patch(engineer, doc_id, add(f"/libraries/x-note-{n}", n))["change_id"] for n in range(3)]
    for change in changes:
        assert w.approve(expert, change)[0] == "merged"
    ids = w.rows(w.admin, "select approval_id from odl.approvals order by approval_id")
    assert ids == [(1,), (2,), (3,)]
    # The shared sequence, which any tenant's approval would advance, is untouched.
    assert w.as_role("postgres", last_value, ("approvals_approval_id_seq",)) == sequence_before


# --- creating a project needs a right ---------------------------------------------------

def test_guest_and_agent_cannot_create_projects(world):
    w = world
    guest = w.user("guest", mfa=False)
    agent = w.user("consultant", mfa=False, agent="planner_agent")
    ops_agent = w.user("technician_operator", mfa=False, agent="ops_agent")
    create = "select odl.odl_create_project(%s, %s)"
    for user in (guest, agent, ops_agent):
        for phase in ("design", "operations"):
            error = w.error(user, create, (f"Squat {phase}", phase))
            assert error is not None and error.sqlstate == "ODR01", (user, phase)
            assert "creating a project" in error.diag.message_primary
    assert w.rows(w.admin, "select name from odl.projects where starts_with(name, 'Squat')") == []


def test_a_project_starts_in_the_first_phase_unless_its_creator_decides_phases(world):
    w = world
    engineer = w.new_user("engineer")
    manager = w.new_user("project_manager")
    create = "select odl.odl_create_project(%s, %s)"
    error = w.error(engineer, create, ("Late", "operations"))
    assert error is not None and error.sqlstate == "ODR01"
    assert "starts in design" in error.diag.message_primary
    assert w.state(engineer, create, ("Early", "design")) is None
    assert w.state(manager, create, ("Late by a manager", "operations")) is None
    assert w.state(w.admin, create, ("Late by the administrator", "construction")) is None
    phases = dict(w.rows(w.admin, "select name, phase from odl.projects where name in ('Early', 'Late', "
                                  "'Late by a manager', 'Late by the administrator')"))
    assert phases == {"Early": "design", "Late by a manager": "operations", "Late by the administrator": "construction"}


def test_a_user_whose_role_needs_mfa_they_lack_cannot_create_projects(world):
    w = world
    engineer = w.new_user("engineer")
    w.as_role("postgres", "update odl.users set mfa_enabled = false where user_id = %s returning 1", (engineer,))
    assert w.state(engineer, "select odl.odl_create_project('No MFA')") == "ODR01"


# --- a revert needs all its arguments ---------------------------------------------------

@pytest.mark.parametrize("missing", ["doc_id", "to_version", "expected_version"])
def test_revert_with_a_null_argument_is_refused_and_changes_nothing(world, missing):
    w = world
    _, doc_id = w.project()
    assert w.outcome(w.admin, doc_id, add("/meta/x-note", "v2")) == "applied"
    args = {"doc_id": doc_id, "to_version": 1, "expected_version": 2}
    args[missing] = None
    error = w.error(
        w.admin, "select * from odl.odl_revert_document(%(doc_id)s, %(to_version)s, %(expected_version)s)", args
    )
    assert error is not None and error.sqlstate == "22004", error
    assert missing in error.diag.message_primary
    assert w.version(doc_id) == 2
    assert w.stored(doc_id)["meta"]["x-note"] == "v2"
