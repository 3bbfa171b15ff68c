"""Documents written the way the ODL-SD spec writes them are stored as
written: every form listed in ../shared/ODL-SD-FACTS.md under "accept every
form" passes a real odl_create_document(); what the spec states clearly is
refused with ODS01 or ODS02 naming the pointer, before any right is checked;
what it leaves open is a warning of odl_validate_document(), never a
refusal. Spec-style documents are created, patched and reverted exactly."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import sys
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
import rfc8785
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb

from conftest import TOP, TenantAccess, server_conninfo
from odl_db import integrity, jsonpatch, validation

sys.path.insert(0, str(TOP))
from fixtures import odlsd, odlsd_spec  # noqa: E402

SCHEMA = json.loads((TOP / "schemas/odl-sd-4.1.schema.json").read_text())
# Data management in the flat form declares nothing external, so every
# connection end is checked.
BASE = odlsd_spec.generate(12_000, seed=4, data_management="flat")


def variant(change: Callable[[dict], object]) -> dict:
    doc = copy.deepcopy(BASE)
    change(doc)
    return doc


def rfc8785_hash(doc: dict) -> str:
    return "sha256:" + hashlib.sha256(rfc8785.dumps(doc)).hexdigest()


def nodes(doc: dict) -> Iterator[dict]:
    stack = [doc["hierarchy"]]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(c for c in node.get("children", ()) if isinstance(c, dict))


def components(doc: dict) -> dict:
    return doc["libraries"]["components"]


def port(doc: dict, name: str, ident: str) -> dict:
    return next(p for p in components(doc)[name]["ports"] if p["id"] == ident)


def with_ports(*ports: dict) -> Callable[[dict], None]:
    return lambda doc: components(doc).update(form_probe={"category": "protection", "ports": list(ports)})


def signal(kind: str, **members) -> dict:
    return {"id": "p", "direction": "input", "signal": {"kind": kind, **members}}


def levels_renamed(doc: dict) -> None:
    for node in nodes(doc):
        node["level"] = node.pop("type")


def levels_doubled(doc: dict) -> None:
    for node in nodes(doc):
        node["level"] = node["type"]


def set_in(*path_and_value) -> Callable[[dict], None]:
    *path, value = path_and_value

    def change(doc: dict) -> None:
        target = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = copy.deepcopy(value)

    return change


def removed(*path) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        target = doc
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


def earlier_cmp_ids(doc: dict) -> None:
    # odl-db's v0.1.0 form: any case, the rating without W.
    for entry in components(doc):
        entry["id"] = entry["id"].replace("W:A", ":a").replace("CMP:VOLTARA", "CMP:Voltara")
        del entry["component_management"]
    for instance in doc["instances"]:
        instance["type_ref"] = instance["type_ref"].replace("W:A", ":a").replace("CMP:VOLTARA", "CMP:Voltara")


def library_file_ids(doc: dict) -> None:
    # A library file names a component by metadata.id; instances may use it.
    body = components(doc)["vpc_1250_pcs"]
    body["metadata"] = {"id": "lib:voltara:vpc-1250", "version": "2.1", "last_updated": "2025-02-01"}
    for instance in doc["instances"]:
        if instance["type_ref"] == "vpc_1250_pcs":
            instance["type_ref"] = "lib:voltara:vpc-1250"


# --- every form the spec gives --------------------------------------------------------

ACCEPTED = {
    # 1. hierarchy
    "hierarchy of nested nodes by type": BASE,
    "hierarchy as one node with parent_id and child ids": odlsd_spec.generate(12_000, 4, hierarchy="ids",
                                                                               data_management="flat"),
    "hierarchy levels under odl-db's name level": variant(levels_renamed),
    "hierarchy levels as type and level, agreeing": variant(levels_doubled),
    "hierarchy children mixing ids and nodes": variant(
        lambda doc: doc["hierarchy"]["children"][0]["children"].append("PLANT-02")),
    "hierarchy node with portfolio and aggregation rules": BASE,
    # 2. components
    "components as a map keyed by name": BASE,
    "components as a map of groups": odlsd_spec.generate(12_000, 4, components="grouped", data_management="flat"),
    "components as an array": odlsd_spec.generate(12_000, 4, components="array", data_management="flat"),
    # 3. component identity
    "identity by map key, no id": BASE,
    "identity by the supplement's CMP id with W": odlsd_spec.generate(12_000, 4, components="array",
                                                                      data_management="flat"),
    "identity by odl-db's earlier CMP id": (lambda doc: (earlier_cmp_ids(doc), doc)[1])(
        odlsd_spec.generate(12_000, 4, components="array", data_management="flat")),
    "identity by a library file's metadata.id": variant(library_file_ids),
    "identity not in CMP form on a top-level id": variant(set_in("libraries", "components", "kw_lc90_chiller", "id",
                                                                 "Kaltwerk KW-LC-90")),
    # 4. port directions
    "port directions input, output, bidirectional and control": variant(with_ports(
        *({"id": f"p_{d}", "direction": d, "signal": {"kind": "control"}}
          for d in ("input", "output", "bidirectional", "control")))),
    # 5. port voltages
    "voltage_v with nominal, min and max": variant(with_ports(signal("dc", voltage_v={"nominal": 800, "min": 0,
                                                                                        "max": 1000}))),
    "voltage_v with stc, noct, max_system and mppt_range": variant(with_ports(signal(
        "dc", voltage_v={"stc": 41.9, "noct": 39.1, "max_system": 1500, "mppt_range": [500, 1300]}))),
    "voltage_v with a subset and a figure of its own": variant(with_ports(signal("dc", voltage_v={"max_system": 1500,
                                                                                                "vmp": 34.2}))),
    "voltage_v_rms": variant(with_ports(signal("ac", voltage_v_rms=400, phases=3))),
    "voltage_vdc": variant(with_ports(signal("control", voltage_vdc=24, contacts=4))),
    "step_voltage_v": variant(with_ports(signal("control", step_voltage_v=412.5, tap_range_pct=[-10, 10]))),
    "odl-db's voltage, open": variant(with_ports(signal("ac", voltage={"nominal": 800, "rms": True}))),
    "negative voltages": variant(with_ports(signal("dc", voltage_v={"nominal": -48, "min": -60}))),
    # 6. creation time
    "meta.created_at": BASE,
    "meta.timestamps.created_at": variant(lambda doc: doc["meta"]["timestamps"].update(
        created_at=doc["meta"].pop("created_at"))),
    # 7. time values
    **{
        f"meta time {value}": variant(set_in("meta", "timestamps", "updated_at", value))
        for value in ("2025-01-05", "2025-01-05T09:00", "2025-01-05T09:00:00", "2025-01-05T09:00:00.123456",
                      "2025-01-05T09:00:00Z", "2025-01-05T09:00:00,5+01:00", "2025-01-05T09:00+05:30",
                      "2025-01-05 09:00:00z")
    },
    "last_sync with an offset and fractions": variant(set_in("instances", 0, "digital_twin", "last_sync",
                                                             "2025-01-05T09:00:00.25+02:00")),
    "validation_timestamp in UTC": variant(set_in("connections", 1, "attributes", "validation_timestamp",
                                                  "2025-01-05T09:00:00Z")),
    # 8. connections
    "connections without id": BASE,
    "connections with id": variant(lambda doc: [c.update(id=f"CN-{i}") for i, c in enumerate(doc["connections"])]),
    "connection ends with members of their own": variant(set_in("connections", 0, "from", "terminal", "X1")),
    # 9. currency
    "any three-capital currency": variant(set_in("meta", "units", "currency", "CHF")),
    # 10. data_management
    **{f"data_management {form}": odlsd_spec.generate(12_000, 4, data_management=form)
       for form in odlsd_spec.FORMS["data_management"]},
    "data_management of all three forms at once": variant(lambda doc: doc["data_management"].update(
        {**odlsd_spec.generate(12_000, 4)["data_management"],
         **odlsd_spec.generate(12_000, 4, data_management="odl_db")["data_management"]})),
    # 11. hashes
    "hashes in upper-case hex": BASE,
    "hashes in lower-case hex": variant(lambda doc: doc["meta"]["versioning"].update(
        content_hash=doc["meta"]["versioning"]["content_hash"].lower(), previous_hash="sha256:" + "ab" * 32)),
    # documents stored under v0.1.0
    "v0.1.0's fixture (level, CMP array, voltage on instance ports)": odlsd.generate(12_000, seed=4),
}


# --- where the spec is clear ------------------------------------------------------------------

REFUSED = {
    # 12. not contradictions
    "SCADA as a domain": (set_in("meta", "domain", "SCADA"), "ODS01", "/meta/domain"),
    "a lower-case scale": (set_in("meta", "scale", "utility"), "ODS01", "/meta/scale"),
    "signal kind ground": (with_ports(signal("ground")), "ODS01",
                           "/libraries/components/form_probe/ports/0/signal/kind"),
    "signal kind fluid": (with_ports(signal("fluid")), "ODS01", "/libraries/components/form_probe/ports/0/signal/kind"),
    # the closed root and its required members
    "a member that is no section": (set_in("components", {}), "ODS01", "/components"),
    "no hierarchy": (removed("hierarchy"), "ODS01", ""),
    "no $schema": (removed("$schema"), "ODS01", ""),
    "schema_version 4.0, which is not registered": (set_in("schema_version", "4.0"), "ODS02", "/schema_version"),
    "instances as an object": (set_in("instances", {}), "ODS01", "/instances"),
    "analysis as an object": (set_in("analysis", {}), "ODS01", "/analysis"),
    "meta as an array": (set_in("meta", []), "ODS01", "/meta"),
    # enums
    "a level outside the seven": (set_in("hierarchy", "type", "ZONE"), "ODS01", "/hierarchy/type"),
    "a lifecycle status outside the seven": (set_in("instances", 1, "lifecycle_status", "running"), "ODS01",
                                             "/instances/1/lifecycle_status"),
    "a connection kind outside the nine": (set_in("connections", 0, "kind", "fiber"), "ODS01", "/connections/0/kind"),
    "a direction outside the four": (with_ports({"id": "p", "direction": "sideways", "signal": {"kind": "dc"}}),
                                     "ODS01", "/libraries/components/form_probe/ports/0/direction"),
    # patterns
    "a port id starting with a digit": (with_ports({"id": "1st", "direction": "input", "signal": {"kind": "dc"}}),
                                        "ODS01", "/libraries/components/form_probe/ports/0/id"),
    "a supplement CMP id without W": (
        set_in("libraries", "components", "kw_lc90_chiller", "component_management",
               {"component_identity": {"component_id": "CMP:KALTWERK:KW-LC-90:90000:A"}}),
        "ODS01", "/libraries/components/kw_lc90_chiller/component_management/component_identity/component_id"),
    "a CMP-form top-level id with a kW rating": (
        set_in("libraries", "components", "kw_lc90_chiller", "id", "CMP:Kaltwerk:KW-LC-90:90kW:A"), "ODS01",
        "/libraries/components/kw_lc90_chiller/id"),
    "a lower-case currency": (set_in("meta", "units", "currency", "eur"), "ODS01", "/meta/units/currency"),
    "a time that is no ISO 8601": (set_in("meta", "created_at", "yesterday"), "ODS01", "/meta/created_at"),
    "an hour 24": (set_in("meta", "timestamps", "updated_at", "2025-01-05T24:00:00Z"), "ODS01",
                   "/meta/timestamps/updated_at"),
    "a last_sync without a time": (set_in("instances", 0, "digital_twin", "last_sync", "2025-01-05"), "ODS01",
                                   "/instances/0/digital_twin/last_sync"),
    "a short hash": (set_in("meta", "versioning", "content_hash", "sha256:abc"), "ODS01",
                     "/meta/versioning/content_hash"),
    # required members
    "a node with neither type nor level": (removed("hierarchy", "type"), "ODS01", "/hierarchy"),
    "a node without id": (removed("hierarchy", "id"), "ODS01", "/hierarchy"),
    "a port without direction": (with_ports({"id": "p", "signal": {"kind": "dc"}}), "ODS01",
                                 "/libraries/components/form_probe/ports/0"),
    "a signal without kind": (with_ports({"id": "p", "direction": "input", "signal": {"voltage_v_rms": 400}}), "ODS01",
                              "/libraries/components/form_probe/ports/0/signal"),
    "a connection without kind": (removed("connections", 0, "kind"), "ODS01", "/connections/0"),
    "a connection end without port_id": (removed("connections", 0, "to", "port_id"), "ODS01", "/connections/0/to"),
    "an instance without type_ref": (removed("instances", 1, "type_ref"), "ODS01", "/instances/1"),
    "a sub-element without qty": (removed("libraries", "components", "tracker_row_2p", "sub_elements", 0, "qty"),
                                  "ODS01", "/libraries/components/tracker_row_2p/sub_elements/0"),
    # types of voltages
    "a voltage_v that is a string": (with_ports(signal("dc", voltage_v={"nominal": "800 V"})), "ODS01",
                                     "/libraries/components/form_probe/ports/0/signal/voltage_v/nominal"),
    "an mppt_range of one number": (with_ports(signal("dc", voltage_v={"mppt_range": [500]})), "ODS01",
                                    "/libraries/components/form_probe/ports/0/signal/voltage_v/mppt_range"),
    # numeric bounds
    "a latitude of 91": (set_in("instances", 1, "location", "lat", 91), "ODS01", "/instances/1/location/lat"),
    "a longitude of -181": (set_in("instances", 1, "location", "lon", -181), "ODS01", "/instances/1/location/lon"),
    "a sub-element qty of 0": (set_in("libraries", "components", "tracker_row_2p", "sub_elements", 0, "qty", 0),
                               "ODS01", "/libraries/components/tracker_row_2p/sub_elements/0/qty"),
    "a sync frequency of 0 hours": (set_in("instances", 0, "digital_twin", "sync_frequency_hours", 0), "ODS01",
                                    "/instances/0/digital_twin/sync_frequency_hours"),
    "a negative cable length": (set_in("connections", 1, "attributes", "length_m", -1), "ODS01",
                                "/connections/1/attributes/length_m"),
    "a negative resistance": (set_in("connections", 1, "attributes", "resistance_ohm", -0.1), "ODS01",
                              "/connections/1/attributes/resistance_ohm"),
    # integrity
    "a repeated instance id": (set_in("instances", 1, "id", "SUB-01"), "ODS02", "/instances/1/id"),
    "a connection end naming no instance": (set_in("connections", 0, "to", "instance_id", "PPC-99"), "ODS02",
                                            "/connections/0/to/instance_id"),
    "type and level disagreeing": (set_in("hierarchy", "level", "SITE"), "ODS02", "/hierarchy/level"),
}

WARNED = {
    "a type_ref naming no component": (set_in("instances", 1, "type_ref", "ppc_from_elsewhere"),
                                       "/instances/1/type_ref"),
    "a parent_ref naming nothing here": (set_in("instances", 1, "parent_ref", "PLANT-77"), "/instances/1/parent_ref"),
    "a sub-element naming no component": (
        set_in("libraries", "components", "tracker_row_2p", "sub_elements", 0, "type_ref", "torque_tube"),
        "/libraries/components/tracker_row_2p/sub_elements/0/type_ref"),
    "a child id naming no node here": (lambda doc: doc["hierarchy"]["children"].append("SITE-09"),
                                       "/hierarchy/children/1"),
    "a parent_id naming no node here": (set_in("hierarchy", "parent_id", "GROUP-1"), "/hierarchy/parent_id"),
    "a parent_id other than the enclosing node": (set_in("hierarchy", "children", 0, "parent_id", "PF-999"),
                                                  "/hierarchy/children/0/parent_id"),
    "a level not below its parent's": (set_in("hierarchy", "children", 0, "type", "PLANT"),
                                       "/hierarchy/children/0/children/0/type"),
    "a repeated node id": (set_in("hierarchy", "children", 0, "children", 0, "id", "SITE-01"),
                           "/hierarchy/children/0/children/0/id"),
    "a repeated connection id": (lambda doc: [c.update(id="CN-1") for c in doc["connections"][:2]], "/connections/1/id"),
    "a port_id no port of the component has": (set_in("connections", 0, "to", "port_id", "wan"),
                                               "/connections/0/to/port_id"),
}


def test_every_accepted_form_is_valid_without_a_database():
    cache = {}
    found = {name: (validation.schema_errors(doc, SCHEMA, cache), integrity.integrity_errors(doc))
             for name, doc in ACCEPTED.items()}
    assert {name: errors for name, errors in found.items() if errors != ([], [])} == {}


@pytest.mark.parametrize("name", REFUSED)
def test_a_clear_rule_is_enforced_without_a_database(name):
    change, sqlstate, pointer = REFUSED[name]
    doc = variant(change)
    errors = validation.schema_errors(doc, SCHEMA, {}) if sqlstate == "ODS01" else integrity.integrity_errors(doc)
    assert pointer in [p for p, _ in errors]


@pytest.mark.parametrize("name", WARNED)
def test_what_the_spec_leaves_open_is_only_a_warning_without_a_database(name):
    change, pointer = WARNED[name]
    doc = variant(change)
    assert validation.schema_errors(doc, SCHEMA, {}) == [] and integrity.integrity_errors(doc) == []
    assert (pointer, "warning") in [(p, s) for p, s, _ in integrity.findings(doc)]


def test_spec_fixtures_have_no_findings_in_the_nested_form():
    for form in odlsd_spec.FORMS["components"]:
        doc = odlsd_spec.generate(200_000, 9, components=form, data_management="flat")
        assert integrity.findings(doc) == [], form


def test_an_external_declaration_lets_connection_ends_name_other_documents():
    dangling = set_in("connections", 0, "to", "instance_id", "PPC-99")
    assert integrity.integrity_errors(variant(dangling)) != []
    for declare in (
        set_in("data_management", "external_refs_enabled", True),
        set_in("data_management", "partitioning_enabled", True),
        set_in("data_management", "external_refs", [{"pointer": "/instances/7", "uri": "s3://x/y.json"}]),
        set_in("data_management", "scalability_strategies", {"external_references": {"enabled": True}}),
        set_in("data_management", "scalability_strategies", {"partitioning": {"strategy": "geographic"}}),
    ):
        doc = variant(dangling)
        declare(doc)
        assert integrity.integrity_errors(doc) == []
    off = variant(dangling)
    set_in("data_management", "scalability_strategies", {"external_references": {"enabled": False}})(off)
    assert [p for p, _ in integrity.integrity_errors(off)] == ["/connections/0/to/instance_id"]


def test_integrity_errors_keep_their_call_shape_for_the_writer():
    doc = variant(set_in("schema_version", "5.0"))
    assert integrity.integrity_errors(doc, supported_versions=()) == [
        ("/schema_version", 'unsupported schema version "5.0"')]
    assert validation.integrity_errors is integrity.integrity_errors


def test_fixture_sizes_and_determinism():
    for size in (10_000, 100_000, 2_000_000):
        actual = odlsd_spec.compact_size(odlsd_spec.generate(size, 1))
        assert abs(actual - size) <= size // 10, (size, actual)
    assert odlsd_spec.generate(50_000, 3) == odlsd_spec.generate(50_000, 3)
    assert odlsd_spec.generate(50_000, 3) != odlsd_spec.generate(50_000, 4)


# --- through the database ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def writer(dbname):
    """A committed project under a PORTFOLIO where the acting user holds
    super_user: (access, user_id, project_id)."""
    with psycopg.connect(server_conninfo(dbname=dbname, user="postgres")) as admin:
        admin.execute("set role odl_admin")
        tenant_id = admin.execute(
            "select odl.odl_create_tenant(%s, 'EU')", (f"spec-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
        user_id = admin.execute(
            "select odl.odl_create_user(%s, %s, 'engineer')", (tenant_id, f"{uuid.uuid4().hex[:6]}@example.com")
        ).fetchone()[0]
    access = TenantAccess(dbname, (tenant_id, user_id))
    access.assign("super_user")
    with access.session(user_id) as conn:
        project = conn.execute("select odl.odl_create_project('spec fidelity')").fetchone()[0]
    access.attach(project)
    return access, user_id, project


@contextlib.contextmanager
def app(writer) -> Iterator[psycopg.Connection]:
    """The acting user's session; what it did is rolled back."""
    access, user_id, _ = writer
    conn = access.session(user_id)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def error_of(conn, statement: str, params) -> psycopg.Error | None:
    try:
        with conn.transaction():
            conn.execute(statement, params)
    except psycopg.Error as error:
        return error
    return None


def findings_of(conn, doc) -> list[tuple[str, str, str]]:
    return conn.execute("select * from odl.odl_validate_document(%s)", (Jsonb(doc),)).fetchall()


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_form_the_spec_gives_is_accepted_by_create(writer, name):
    with app(writer) as conn:
        doc_id = conn.execute(
            "select odl.odl_create_document(%s, %s)", (writer[2], Jsonb(ACCEPTED[name]))).fetchone()[0]
        assert len(doc_id) == 26
        assert [f for f in findings_of(conn, ACCEPTED[name]) if f[1] == "error"] == []


@pytest.mark.parametrize("name", REFUSED)
def test_a_clear_rule_refuses_the_document_naming_its_pointer(writer, name):
    change, sqlstate, pointer = REFUSED[name]
    doc = variant(change)
    with app(writer) as conn:
        error = error_of(conn, "select odl.odl_create_document(%s, %s)", (writer[2], Jsonb(doc)))
        assert error is not None and error.sqlstate == sqlstate
        assert f"{pointer or '(root)'}: " in error.diag.message_detail
        assert (pointer, "error") in [(p, s) for p, s, _ in findings_of(conn, doc)]


@pytest.mark.parametrize("name", WARNED)
def test_a_warning_is_reported_and_never_refuses(writer, name):
    change, pointer = WARNED[name]
    doc = variant(change)
    with app(writer) as conn:
        found = findings_of(conn, doc)
        assert (pointer, "warning") in [(p, s) for p, s, _ in found]
        assert all(severity == "warning" for _, severity, _ in found)
        conn.execute("select odl.odl_create_document(%s, %s)", (writer[2], Jsonb(doc)))


def test_a_catalogue_is_refused_by_the_schema_before_any_right(writer, dbname):
    # A library file: no hierarchy, and a member that is no section. Before
    # v2 this said "permission denied ... lacking: components".
    catalogue = {"$schema": odlsd_spec.SCHEMA_URI, "schema_version": "4.1", "meta": {"project": "library"},
                 "components": {"scales": {"inv": {"category": "power_electronics", "ports": []}}}}
    access, user_id, _ = writer
    with app(writer) as conn:
        unattached = conn.execute("select odl.odl_create_project('nobody has rights here')").fetchone()[0]
        for project in (writer[2], unattached):
            error = error_of(conn, "select odl.odl_create_document(%s, %s)", (project, Jsonb(catalogue)))
            assert error.sqlstate == "ODS01"
            assert error.diag.message_detail.splitlines() == [
                '(root): missing required property "hierarchy"', "/components: property is not allowed"]
        # A valid document there still needs the rights.
        error = error_of(conn, "select odl.odl_create_document(%s, %s)", (unattached, Jsonb(BASE)))
        assert error.sqlstate == "ODR01"


def test_validation_stores_nothing_and_serves_analysts(writer, connect):
    admin = connect()
    before = admin.execute("select count(*) from odl.odl_documents").fetchone()[0]
    with app(writer) as conn:
        assert findings_of(conn, BASE) == []
        conn.commit()
    assert admin.execute("select count(*) from odl.odl_documents").fetchone()[0] == before
    analyst = connect()
    analyst.execute("set role odl_analyst")
    found = findings_of(analyst, variant(set_in("instances", 1, "type_ref", "elsewhere")))
    assert found == [("/instances/1/type_ref", "warning", 'component "elsewhere" is not in this document\'s library')]
    assert findings_of(analyst, [1]) == [("", "error", "document must be an object")]


def test_a_document_nested_beyond_the_limit_is_a_clean_error(writer):
    deep = '{"schema_version": "4.1", "x": ' + "[" * 3000 + "]" * 3000 + "}"
    with app(writer) as conn:
        error = error_of(conn, "select * from odl.odl_validate_document(%s::jsonb)", (deep,))
        assert (error.sqlstate, error.diag.message_primary) == (
            "ODL02", "the document nests deeper than the limit nesting_depth = 128"
        )


@pytest.mark.parametrize("forms", [
    {"hierarchy": "nested", "components": "map", "data_management": "nested"},
    {"hierarchy": "ids", "components": "grouped", "data_management": "flat"},
    {"hierarchy": "nested", "components": "array", "data_management": "odl_db"},
])
@pytest.mark.parametrize("size", [30_000, 1_000_000])
def test_spec_documents_are_created_patched_and_reverted_exactly(writer, connect, forms, size):
    doc = odlsd_spec.generate(size, 11, **forms)
    text = json.dumps(doc)
    nested = forms["hierarchy"] == "nested"
    patch = [
        {"op": "replace", "path": "/instances/3/lifecycle_status", "value": "maintenance"},
        {"op": "add", "path": "/connections/-", "value": {
            "from": {"instance_id": "PPC-01", "port_id": "lan"}, "to": {"instance_id": "SUB-01", "port_id": "comms"},
            "kind": "data_ethernet", "attributes": {"cable_type": "OS2 fibre", "length_m": 120.5, "validated": False}}},
        {"op": "add", "path": "/hierarchy/children/0/children/0/children/-" if nested else "/hierarchy/children/-",
         "value": {"id": "PLANT-01-B99", "type": "BLOCK", "parent_id": "PLANT-01", "children": []} if nested
         else "PLANT-01-B99"},
        {"op": "replace", "path": "/meta/created_at", "value": "2025-06-01T08:00:00.5+02:00"},
        {"op": "remove", "path": "/instances/2/digital_twin"},
    ]
    patched, _ = jsonpatch.apply(copy.deepcopy(doc), patch)  # the engine changes what it is given
    stored = connect()
    access, user_id, project = writer
    with access.session(user_id) as conn:
        doc_id = conn.execute("select odl.odl_create_document(%s, %s::jsonb)", (project, text)).fetchone()[0]

    def same_as_stored(expected: dict) -> tuple[bool, str]:
        return stored.execute(
            "select doc_json::text = %s::jsonb::text, doc_hash from odl.odl_documents where doc_id = %s",
            (json.dumps(expected), doc_id)).fetchone()

    assert same_as_stored(doc) == (True, rfc8785_hash(doc))
    with access.session(user_id) as conn:
        applied = conn.cursor(row_factory=namedtuple_row).execute(
            "select * from odl.odl_apply_patch(%s, %s, 1)", (doc_id, Jsonb(patch))).fetchone()
    assert (applied.version, applied.outcome, applied.doc_hash) == (2, "applied", rfc8785_hash(patched))
    assert same_as_stored(patched) == (True, rfc8785_hash(patched))
    with access.session(user_id) as conn:
        reverted = conn.cursor(row_factory=namedtuple_row).execute(
            "select * from odl.odl_revert_document(%s, 1, 2)", (doc_id,)).fetchone()
        version_one = conn.execute("select document from odl.odl_get_document(%s, 1)", (doc_id,)).fetchone()[0]
    assert (reverted.version, reverted.doc_hash) == (3, rfc8785_hash(doc))
    assert same_as_stored(doc) == (True, rfc8785_hash(doc))
    assert version_one == doc


def test_a_schema_version_in_use_changes_only_to_a_schema_its_documents_pass(writer, conn):
    # The documents created above (and by other tests) are 4.1 documents.
    access, user_id, project = writer
    with access.session(user_id) as app_conn:
        app_conn.execute("select odl.odl_create_document(%s, %s)", (project, Jsonb(BASE)))
    stricter = copy.deepcopy(SCHEMA)
    stricter["$defs"]["instance"]["required"].append("commission_date")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="in use by [0-9]+ documents the changed") as info:
        with conn.transaction():
            conn.execute("call odl.register_json_schema('4.1', %s)", (Jsonb(stricter),))
    assert 'missing required property "commission_date"' in info.value.diag.message_detail
    looser = copy.deepcopy(SCHEMA)
    looser["$id"] = "https://odl-db.invalid/odl-db/schemas/odl-sd-4.1-looser.schema.json"
    looser["$defs"]["meta"]["properties"]["project"] = {"type": ["string", "null"]}
    conn.execute("call odl.register_json_schema('4.1', %s)", (Jsonb(looser),))
    assert conn.execute("select schema_id from odl.json_schemas where version = '4.1'").fetchone() == (looser["$id"],)
