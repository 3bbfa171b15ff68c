"""The Python client (client/odl_client) against the deployed database, as
odl_app: the context in every transaction, transaction pooling, the typed
API, errors by SQLSTATE class, the generated document types and their
enums, and the example program. The module runs in both context modes
(conftest's --token-mode): in token mode the pools take their tokens from
the login service (OdlAuth)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import typing
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import TOP, server_conninfo
from odl_client import (
    ERROR_CLASSES,
    ApprovalResult,
    Change,
    ChangeRequest,
    ConstraintViolation,
    ContextError,
    DocumentError,
    DocumentHead,
    DocumentRead,
    Finding,
    GateError,
    HierarchyError,
    HistoryEntry,
    InsufficientPrivilege,
    InvalidValue,
    Limit,
    LimitError,
    OdlConnection,
    OdlError,
    OdlPool,
    PatchError,
    PatchResult,
    QueryCanceled,
    RightsError,
    SchemaError,
    VersionConflict,
    error_class,
    models,
)
from odl_client.errors import translated
from odl_client import document_types as types

sys.path.insert(0, str(TOP / "client" / "tools"))
import generate_types  # noqa: E402

SCHEMA = json.loads((TOP / "schemas" / "odl-sd-4.1.schema.json").read_text())

pytestmark = pytest.mark.runs_in_token_mode


def new_document(name: str = "Client farm") -> types.OdlDocument:
    return {
        "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
        "schema_version": "4.1",
        "meta": {"project": name, "domain": "PV", "scale": "UTILITY"},
        "hierarchy": {"id": "PF-1", "type": "PORTFOLIO", "name": name, "children": []},
        "instances": [],
    }


def add_instance(instance_id: str, status: str = "planned") -> list[models.PatchOperation]:
    return [{"op": "add", "path": "/instances/-",
             "value": {"id": instance_id, "type_ref": "inverter", "lifecycle_status": status}}]


@dataclasses.dataclass
class Team:
    tenant_id: str
    writer: str      # super_user at the portfolio
    approver: str    # project_manager at the portfolio
    guest: str       # guest at the portfolio
    project_id: str


@pytest.fixture
def pool(dbname, login_tokens):
    with OdlPool(server_conninfo(dbname=dbname, user="odl_app"), min_size=1, max_size=2,
                 tokens=login_tokens) as odl_pool:
        yield odl_pool


@pytest.fixture
def team(access, pool) -> Team:
    access.assign("super_user")
    approver = access.create_user("project_manager")
    access.assign("project_manager", approver)
    guest = access.create_user("guest", mfa_enabled=False)
    access.assign("guest", guest)
    with pool.transaction(access.tenant_id, access.user_id) as odl:
        project_id = odl.create_project(f"client-{uuid.uuid4().hex[:6]}")
    access.attach(project_id)
    return Team(access.tenant_id, access.user_id, approver, guest, project_id)


@pytest.fixture
def doc_id(team, pool) -> str:
    with pool.transaction(team.tenant_id, team.writer) as odl:
        return odl.create_document(team.project_id, new_document())


# -- the context --------------------------------------------------------------

def test_each_transaction_acts_as_its_user_and_leaves_no_context_behind(dbname, access, login_tokens):
    other = access.create_user("guest", mfa_enabled=False)
    with OdlPool(server_conninfo(dbname=dbname, user="odl_app"), min_size=1, max_size=1, tokens=login_tokens) as one:
        for user in (access.user_id, other, access.user_id):
            with one.transaction(access.tenant_id, user) as odl:
                row = odl.connection.execute("select odl.odl_current_tenant_id(), odl.odl_current_user_id()")
                assert row.fetchone() == (access.tenant_id, user)
            with one.pool.connection() as conn:  # the same backend, after the transaction
                row = conn.execute("select odl.odl_current_tenant_id(), count(*) from odl.projects").fetchone()
                assert row == (None, 0)


def test_an_error_rolls_the_whole_transaction_back(team, pool, doc_id):
    with pytest.raises(PatchError):
        with pool.transaction(team.tenant_id, team.writer) as odl:
            odl.apply_patch(doc_id, add_instance("INV-1"), 1)
            odl.apply_patch(doc_id, [{"op": "remove", "path": "/meta/nothing"}], 2)
    with pool.transaction(team.tenant_id, team.writer) as odl:
        assert odl.head(doc_id).version == 1


def test_users_take_turns_with_act_as_in_a_transaction_the_caller_ends(dbname, team, doc_id, login_tokens):
    with OdlConnection.connect(server_conninfo(dbname=dbname, user="odl_app"), tokens=login_tokens) as conn:
        with pytest.raises(OdlError, match="needs a transaction"):
            conn.act_as(team.tenant_id, team.writer)
        with conn.connection.transaction(force_rollback=True):
            proposed = conn.act_as(team.tenant_id, team.writer).apply_patch(
                doc_id, add_instance("INV-1"), 1, propose=True)
            approver = conn.act_as(team.tenant_id, team.approver)
            assert approver.connection.execute("select odl.odl_current_user_id()").fetchone()[0] == team.approver
            assert approver.approve(proposed.change_id).version == 2
        with conn.transaction(team.tenant_id, team.writer) as odl:
            assert odl.head(doc_id).version == 1 and odl.change_requests(team.project_id) == []


def test_a_connection_inside_a_transaction_is_refused(dbname, tenant):
    conn = psycopg.connect(server_conninfo(dbname=dbname, user="odl_app"))
    conn.execute("select 1")  # psycopg's implicit transaction
    with pytest.raises(OdlError, match="inside a transaction"):
        with OdlConnection(conn).transaction(*tenant):
            pass
    conn.close()


@pytest.mark.parametrize("transaction_pooling, prepared", [(True, False), (False, True)])
def test_transaction_pooling_prepares_no_statement(dbname, team, transaction_pooling, prepared, login_tokens):
    """Behind pgbouncer in transaction mode a prepared statement would land on
    another backend: prepare_threshold=None prepares none."""
    with OdlConnection.connect(server_conninfo(dbname=dbname, user="odl_app"),
                               transaction_pooling=transaction_pooling, tokens=login_tokens) as conn:
        with conn.transaction(team.tenant_id, team.writer) as odl:
            for _ in range(8):
                odl.heads(team.project_id)
            count = odl.connection.execute("select count(*) from pg_prepared_statements").fetchone()[0]
    assert (count > 0) == prepared


# -- the typed API -------------------------------------------------------------

def test_documents_patches_and_reads_come_back_typed(team, pool, doc_id):
    with pool.transaction(team.tenant_id, team.writer) as odl:
        dry = odl.apply_patch(doc_id, add_instance("INV-1"), 1, dry_run=True)
        assert isinstance(dry, PatchResult) and dry.document["instances"][0]["id"] == "INV-1"
        assert odl.head(doc_id).version == 1
        applied = odl.apply_patch(doc_id, add_instance("INV-1"), 1, intent="one inverter",
                                  evidence_uris=["https://example.com/e1"], tool_version="client-test")
        assert (applied.version, applied.outcome, applied.change_id) == (2, "applied", None)
        assert applied.inverse_patch == [{"op": "remove", "path": "/instances/0"}]

        current = odl.get_document(doc_id)
        assert isinstance(current, DocumentRead)
        assert (current.version, current.redacted) == (2, [])
        assert current.document["instances"][0]["id"] == "INV-1"
        assert odl.get_document(doc_id, 1).document == new_document()

        (head,) = odl.heads(team.project_id)
        assert isinstance(head, DocumentHead)
        assert (head.doc_id, head.version, head.doc_hash) == (doc_id, 2, applied.doc_hash)

        history = odl.history(doc_id)
        assert all(isinstance(entry, HistoryEntry) for entry in history)
        assert [(e.version, e.intent, e.created_by) for e in history] == [
            (1, None, team.writer), (2, "one inverter", team.writer)]
        assert history[1].evidence_uris == ["https://example.com/e1"]

        reverted = odl.revert(doc_id, 1, 2)
        assert (reverted.version, reverted.outcome) == (3, "applied")
        assert odl.get_document(doc_id).document == new_document()


def test_the_change_feed_reads_on_from_a_position(team, pool, doc_id):
    with pool.transaction(team.tenant_id, team.writer) as odl:
        odl.apply_patch(doc_id, add_instance("INV-1"), 1)
    with pool.transaction(team.tenant_id, team.writer) as odl:
        changes = [c for c in odl.changes_since() if c.doc_id == doc_id]
        assert all(isinstance(c, Change) for c in changes)
        assert [(c.version, c.changed_pointers) for c in changes] == [(1, [""]), (2, ["/instances"])]
        assert [c.version for c in odl.changes_since(changes[0].position) if c.doc_id == doc_id] == [2]


def test_proposals_and_phase_changes_are_decided_by_an_approver(team, pool, doc_id):
    with pool.transaction(team.tenant_id, team.writer) as odl:
        proposed = odl.apply_patch(doc_id, add_instance("INV-1"), 1, propose=True, intent="one inverter")
        assert (proposed.outcome, proposed.version) == ("proposed", 1) and proposed.change_id
        phase_change = odl.set_phase(team.project_id, "procurement")
    with pool.transaction(team.tenant_id, team.approver) as odl:
        pending = {c.change_id: c for c in odl.change_requests(team.project_id)}
        assert set(pending) == {proposed.change_id, phase_change}
        assert all(isinstance(c, ChangeRequest) for c in pending.values())
        patch_request = pending[proposed.change_id]
        assert (patch_request.kind, patch_request.status, patch_request.doc_id, patch_request.base_version) == (
            "patch", "pending", doc_id, 1)
        assert patch_request.author_id == team.writer and patch_request.sections == ["instances"]
        assert pending[phase_change].target_phase == "procurement"

        merged = odl.approve(proposed.change_id, comment="fine")
        assert isinstance(merged, ApprovalResult) and (merged.status, merged.version) == ("merged", 2)
        assert odl.approve(phase_change).status == "merged"
        assert odl.get_document(doc_id).document["instances"][0]["id"] == "INV-1"
        assert odl.change_requests(team.project_id) == []
    with pool.transaction(team.tenant_id, team.writer) as odl:
        with pytest.raises(GateError) as raised:
            odl.set_phase(team.project_id, "commissioning")
    assert raised.value.sqlstate == "ODG02"


def test_rights_and_audit_calls_return_their_values(team, pool, access):
    with pool.transaction(team.tenant_id, access.admin_id) as odl:
        assert odl.effective_rights(team.guest, team.project_id, "meta") == "R"
        why = odl.explain_access(team.guest, team.project_id, "meta")
        assert (why["project_id"], why["rights"]) == (team.project_id, {"meta": "R"})
        assert [(a["role"], a["status"]) for a in why["assignments"]] == [("guest", "applies")]
        assert odl.revoke_role(team.guest, access.node_id, "guest") == 1
        assert odl.effective_rights(team.guest, team.project_id, "meta") == ""
        site = odl.create_node(access.node_id, "SITE", "a site")
        assignment = odl.assign_role(team.guest, site, "client")
        assert isinstance(site, str) and isinstance(assignment, str)
        seq = odl.audit_log("client.test", {"ok": True})
        assert isinstance(seq, int) and seq > 0


def test_validation_findings_and_limits_come_back_typed(team, pool):
    broken = new_document()
    broken["instances"] = [{"id": "INV-1", "type_ref": "inverter", "lifecycle_status": "scrapped"}]
    with pool.transaction(team.tenant_id, team.writer) as odl:
        findings = odl.validate_document(broken)
        assert findings and all(isinstance(f, Finding) for f in findings)
        assert {(f.pointer, f.severity) for f in findings} >= {("/instances/0/lifecycle_status", "error")}
        assert odl.validate_document(new_document()) == []
        limits = {limit.name: limit for limit in odl.limits()}
    assert all(isinstance(limit, Limit) for limit in limits.values())
    assert limits["nesting_depth"].sqlstate == "ODL02" and limits["nesting_depth"].value > 0


# -- errors --------------------------------------------------------------------

def test_version_conflict_carries_both_versions_as_numbers(team, pool, doc_id):
    with pool.transaction(team.tenant_id, team.writer) as odl:
        odl.apply_patch(doc_id, add_instance("INV-1"), 1)
    with pytest.raises(VersionConflict) as raised:
        with pool.transaction(team.tenant_id, team.writer) as odl:
            odl.apply_patch(doc_id, add_instance("INV-2"), 1)
    conflict = raised.value
    assert (conflict.sqlstate, conflict.expected_version, conflict.current_version) == ("ODV01", 1, 2)
    assert conflict.message == "version conflict" and conflict.hint
    assert isinstance(conflict.__cause__, psycopg.Error)


def test_each_sqlstate_class_of_odl_has_its_own_exception(conn):
    classes = [row[0] for row in conn.execute(
        "select distinct left(sqlstate, 3) from odl.error_codes order by 1")]
    assert classes, "odl.error_codes is empty"
    mapped = [error_class(f"{cls}99") for cls in classes]
    assert all(c is not OdlError and c.sqlstate_class == cls for c, cls in zip(mapped, classes))
    assert len(set(mapped)) == len(classes)
    assert error_class("23505") is ConstraintViolation and error_class("22023") is InvalidValue
    assert error_class("42501") is InsufficientPrivilege and error_class("57014") is QueryCanceled
    assert error_class("42P01") is OdlError and error_class(None) is OdlError
    assert set(ERROR_CLASSES) >= set(classes)


def error_cases(team: Team, doc_id: str):
    """(what is done, acting user, the exception class, its SQLSTATE)."""
    unknown = "01" + "0" * 24
    return [
        (lambda odl: odl.get_document(unknown), team.writer, DocumentError, "ODD01"),
        (lambda odl: odl.get_document(doc_id, 7), team.writer, DocumentError, "ODD03"),
        (lambda odl: odl.apply_patch(doc_id, [{"op": "remove", "path": "/meta/nothing"}], 1), team.writer,
         PatchError, "ODP03"),
        (lambda odl: odl.apply_patch(doc_id, add_instance("INV-1"), 1), team.guest, RightsError, "ODR01"),
        (lambda odl: odl.create_document(team.project_id, {**new_document(), "meta": {"domain": "SOLAR"}}),
         team.writer, SchemaError, "ODS01"),
        (lambda odl: odl.attach_project(team.project_id, unknown), team.writer, HierarchyError, "ODH02"),
        (lambda odl: odl.create_node(None, "SITE", "site"), team.writer, HierarchyError, "ODH01"),
        (lambda odl: odl.changes_since(max_count=0), team.writer, InvalidValue, "22023"),
        (lambda odl: odl.create_project("twice") and odl.create_project("twice"), team.writer,
         ConstraintViolation, "23505"),
        (lambda odl: odl.connection.execute("select odl.odl_create_tenant('x', 'EU')"), team.writer,
         InsufficientPrivilege, "42501"),
        (lambda odl: odl.connection.execute("set local statement_timeout = 50; select pg_sleep(5)"),
         team.writer, QueryCanceled, "57014"),
    ]


def test_errors_are_raised_as_their_class_with_the_servers_fields(team, pool, doc_id):
    for action, user, cls, sqlstate in error_cases(team, doc_id):
        with pytest.raises(cls) as raised:
            with pool.transaction(team.tenant_id, user) as odl:
                action(odl)
        error = raised.value
        assert (type(error), error.sqlstate) == (cls, sqlstate), error
        assert error.message and error.message == error.__cause__.diag.message_primary
        assert error.detail == error.__cause__.diag.message_detail
        assert error.hint == error.__cause__.diag.message_hint
    assert "ODD01" in str(DocumentError("document does not exist", sqlstate="ODD01"))


def test_a_limit_error_names_the_limit(conn):
    with pytest.raises(LimitError) as raised, translated():
        conn.execute("select odl.check_limit('nesting_depth', 1000, 'the document')")
    assert raised.value.sqlstate == "ODL02" and "nesting_depth" in raised.value.message


def test_a_user_of_another_tenant_gets_no_context(team, pool, dbname):
    with psycopg.connect(server_conninfo(dbname=dbname, user="postgres")) as admin:
        admin.execute("set role odl_admin")
        other_tenant = admin.execute("select odl.odl_create_tenant(%s, 'US')",
                                     (f"t-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
    with pytest.raises(ContextError) as raised:
        with pool.transaction(other_tenant, team.writer):
            pass
    assert raised.value.sqlstate == "ODC02"


def test_a_constraint_violation_names_its_constraint(team, pool):
    with pytest.raises(ConstraintViolation) as raised:
        with pool.transaction(team.tenant_id, team.writer) as odl:
            odl.create_project("same")
            odl.create_project("same")
    assert raised.value.constraint and raised.value.sqlstate == "23505"


# -- generated document types and the enums ---------------------------------------

def test_document_types_are_the_generators_output():
    generated = TOP / "client" / "odl_client" / "document_types.py"
    assert generated.read_text() == generate_types.render(), "run client/tools/generate_types.py"
    assert "GENERATED by client/tools/generate_types.py" in generated.read_text()


def schema_enums(node, pointer=""):
    if isinstance(node, dict):
        if "enum" in node:
            yield pointer, tuple(node["enum"])
        for key, value in node.items():
            yield from schema_enums(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from schema_enums(value, f"{pointer}/{i}")


def test_generated_enums_are_the_schemas():
    enums = dict(schema_enums(SCHEMA))
    assert len(enums) >= 8
    assert {pointer: typing.get_args(alias) for pointer, alias in types.SCHEMA_ENUMS.items()} == enums
    assert typing.get_args(types.InstanceLifecycleStatus) == enums["/$defs/instance/properties/lifecycle_status"]
    assert types.OdlDocument.__required_keys__ == frozenset(SCHEMA["required"])
    assert set(types.OdlDocument.__annotations__) == set(SCHEMA["properties"])


def check_values(conn, constraint: str) -> set[str]:
    """The values a CHECK (column = any (array[...])) constraint allows."""
    definition = conn.execute(
        "select pg_get_constraintdef(oid) from pg_constraint where conname = %s "
        "and connamespace = 'odl'::regnamespace", (constraint,)).fetchone()[0]
    return set(re.findall(r"'([^']*)'::text", definition))


def test_enums_agree_with_what_the_database_enforces(conn):
    def column(query: str) -> tuple:
        return tuple(row[0] for row in conn.execute(query))

    args = typing.get_args
    # Tables loaded from the policy, and the schema's hierarchy levels.
    assert args(types.HierarchyLevel) == column("select level from odl.hierarchy_levels order by depth")
    assert args(types.ProjectPhase) == column("select phase from odl.project_phases order by position")
    assert args(types.ClassificationLevel) == column("select level from odl.classification_levels order by rank")
    assert args(types.SectionName) == column("select section from odl.rbac_sections order by position")
    assert args(types.Right) == column("select right_code from odl.rbac_rights order by position")
    assert set(args(types.Role)) == set(column("select role_id from odl.rbac_roles"))
    assert set(args(types.Action)) == set(column("select action from odl.rbac_actions"))
    assert set(types.OdlDocument.__annotations__) == set(column("select key from odl.rbac_section_keys"))
    # CHECK constraints.
    assert set(args(types.ClassificationLevel)) == check_values(conn, "projects_classification_valid")
    assert set(args(models.ChangeStatus)) == check_values(conn, "change_requests_status_valid")
    assert set(args(models.Region)) == check_values(conn, "tenants_region_valid")
    # The schema the database validates documents against.
    registered = conn.execute("select schema from odl.json_schemas where schema_id = %s",
                              (types.SCHEMA_ID,)).fetchone()[0]
    assert {p: args(a) for p, a in types.SCHEMA_ENUMS.items()} == dict(schema_enums(registered))


@pytest.mark.parametrize("status", typing.get_args(types.InstanceLifecycleStatus) + ("scrapped",))
def test_the_database_accepts_exactly_the_generated_lifecycle_statuses(conn, status):
    doc = new_document()
    doc["instances"] = [{"id": "INV-1", "type_ref": "inverter", "lifecycle_status": status}]
    conn.execute("set local role odl_app")
    errors = conn.execute("select pointer from odl.odl_validate_document(%s) where severity = 'error'",
                          (Jsonb(doc),)).fetchall()
    allowed = status in typing.get_args(types.InstanceLifecycleStatus)
    assert errors == ([] if allowed else [("/instances/0/lifecycle_status",)])


# -- the example program ---------------------------------------------------------

def test_example_program_creates_patches_survives_a_conflict_and_reads_history(dbname, token_mode):
    env = dict(
        os.environ,
        PYTHONPATH=str(TOP / "client"),
        ODL_ADMIN_DSN=server_conninfo(dbname=dbname, user="postgres", options="-c role=odl_admin"),
        ODL_APP_DSN=server_conninfo(dbname=dbname, user="odl_app"),
    )
    if token_mode:
        env["ODL_AUTH_DSN"] = server_conninfo(dbname=dbname, user="postgres", options="-c role=odl_auth")
    result = subprocess.run([sys.executable, str(TOP / "client" / "examples" / "app.py")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "version conflict: expected 2, current 3" in result.stdout
    assert "history: 1, 2, 3, 4" in result.stdout
    assert "instances: INV-1, INV-2, INV-3" in result.stdout
    doc_id = next(line.split()[1].rstrip(":") for line in result.stdout.splitlines() if line.startswith("document "))
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        assert conn.execute("select version from odl.odl_documents where doc_id = %s",
                            (doc_id,)).fetchone() == (4,)
