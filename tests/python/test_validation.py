"""JSON Schema validation (jsonschema-rs) and integrity rules of ODL-SD
documents, without a database. Documents are handed over as the writer
reads them: every number a Decimal. The draft's own cases are in
test_conformance_jsonschema.py."""

from __future__ import annotations

import copy
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from odl_db import validation
from odl_db.validation import InvalidSchemaError, check_schema, integrity_errors, schema_errors, validator_for

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

SCHEMA = json.loads((TOP / "schemas/odl-sd-4.1.schema.json").read_text())
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def as_jsonb(value):
    """`value` as the jsonb transform delivers it: numbers are Decimal."""
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)


@pytest.fixture(scope="module")
def cache():
    return {}


@pytest.fixture
def doc():
    """A small valid document: a transformer, an inverter, strings, modules,
    a battery group."""
    return as_jsonb(odlsd.generate(30_000, seed=7))


def errors(doc, cache):
    return schema_errors(doc, SCHEMA, cache)


def index_of(doc, type_ref_part):
    return next(i for i, inst in enumerate(doc["instances"]) if type_ref_part in inst["type_ref"])


# --- the fixtures ----------------------------------------------------------------


@pytest.mark.parametrize(("size", "seed"), [(10_000, 0), (12_000, 3), (50_000, 1), (300_000, 2), (1_000_000, 5)])
def test_generated_documents_are_valid(size, seed, cache):
    doc = odlsd.generate(size, seed)
    assert schema_errors(as_jsonb(doc), SCHEMA, cache) == []
    assert schema_errors(doc, SCHEMA, cache) == []  # floats and ints, as json.load gives
    assert integrity_errors(as_jsonb(doc)) == []


@pytest.mark.parametrize("size", [10_000, 25_000, 100_000, 1_000_000, 10_000_000])
def test_generated_documents_have_the_requested_size(size):
    for seed in (0, 1):
        actual = len(json.dumps(odlsd.generate(size, seed), separators=(",", ":")).encode())
        assert abs(actual - size) <= size // 10, (seed, actual)


def test_generation_is_deterministic_per_seed():
    assert odlsd.generate(40_000, seed=3) == odlsd.generate(40_000, seed=3)
    assert odlsd.generate(40_000, seed=3) != odlsd.generate(40_000, seed=4)


def test_sizes_outside_the_supported_range_are_refused():
    with pytest.raises(ValueError, match="between"):
        odlsd.generate(5_000)


def test_a_small_document_holds_one_of_everything():
    doc = odlsd.generate(12_000, seed=1)
    kinds = {inst["type_ref"].split(":")[2] for inst in doc["instances"]}
    assert {"VSI-150K", "STR-28S", "HX-550M-72", "VPC-1250", "FC-LFP-280", "MVT-4000"} <= kinds
    levels = []
    node = doc["hierarchy"]
    while node.get("children"):
        levels.append(node["level"])
        node = node["children"][0]
    assert levels + [node["level"]] == ["PORTFOLIO", "SITE", "PLANT", "BLOCK", "ARRAY"]


def test_generated_references_all_resolve():
    doc = odlsd.generate(300_000, seed=2)
    ports = {inst["id"]: {p["id"] for p in inst["ports"]} for inst in doc["instances"]}
    for connection in doc["connections"]:
        for end in ("from", "to"):
            assert connection[end]["port_id"] in ports[connection[end]["instance_id"]]
    nodes, stack = set(), [doc["hierarchy"]]
    while stack:
        node = stack.pop()
        nodes.add(node["id"])
        stack.extend(node.get("children", ()))
    components = {c["id"] for c in doc["libraries"]["components"]}
    for inst in doc["instances"]:
        assert inst["parent_ref"] in ports or inst["parent_ref"] in nodes
        assert inst["type_ref"] in components
    assert len(odlsd.instance_pointers(doc)) == len(doc["instances"])
    assert odlsd.instance_index(doc)[doc["instances"][5]["id"]] == "/instances/5"
    assert odlsd.connection_pointers(doc)[-1] == f"/connections/{len(doc['connections']) - 1}"


# --- schema violations -----------------------------------------------------------


def test_a_value_outside_an_enum_is_reported(doc, cache):
    doc["meta"]["domain"] = "SOLAR"
    doc["connections"][3]["kind"] = "dc"
    assert errors(doc, cache) == [
        ("/connections/3/kind", 'must be one of "dc_power", "ac_power", "data_modbus", "data_can",'
         ' "data_ethernet", "control_digital", "control_analog", "thermal_liquid", "thermal_air"'),
        ("/meta/domain", 'must be one of "PV", "BESS", "HYBRID", "GRID", "MICROGRID"'),
    ]


def test_a_pattern_mismatch_is_reported(doc, cache):
    doc["instances"][0]["ports"][1]["id"] = "2nd-port"
    doc["meta"]["versioning"]["content_hash"] = "sha256:ABC"
    doc["meta"]["versioning"]["document_version"] = "4.1"
    assert errors(doc, cache) == [
        ("/instances/0/ports/1/id", "must match pattern ^[a-zA-Z][a-zA-Z0-9_]*$"),
        ("/meta/versioning/content_hash", "must match pattern ^sha256:[0-9a-fA-F]{64}$"),
        ("/meta/versioning/document_version", "must match pattern ^[0-9]+\\.[0-9]+\\.[0-9]+$"),
    ]


def test_a_pattern_the_engine_gives_up_on_is_reported_as_too_costly():
    # A backreference sends the pattern to fancy-regex's backtracking VM,
    # which stops at its backtrack limit: the value fails, with a message
    # that says why (it read "must match pattern None").
    found = validation.instance_errors(json.dumps({"pattern": "^(?=a)(a|aa)+\\1$"}), json.dumps("a" * 30 + "!"))
    assert found == [("", "pattern is too costly to match (backtrack limit reached)")]


def test_a_trailing_newline_does_not_satisfy_an_anchored_pattern(doc, cache):
    # Python's `$` matches before a final newline; ECMA-262's does not.
    doc["meta"]["versioning"]["content_hash"] += "\n"
    assert errors(doc, cache) == [("/meta/versioning/content_hash", "must match pattern ^sha256:[0-9a-fA-F]{64}$")]


def test_missing_required_properties_are_reported_at_their_object(doc, cache):
    del doc["meta"]
    del doc["instances"][2]["type_ref"]
    del doc["connections"][1]["to"]["port_id"]
    del doc["instances"][0]["ports"][0]["signal"]["kind"]
    assert errors(doc, cache) == [
        ("", 'missing required property "meta"'),
        ("/connections/1/to", 'missing required property "port_id"'),
        ("/instances/0/ports/0/signal", 'missing required property "kind"'),
        ("/instances/2", 'missing required property "type_ref"'),
    ]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("lat", 90.5, "must be <= 90"),
    ("lat", -91, "must be >= -90"),
    ("lon", 180.000001, "must be <= 180"),
    ("lon", "12.5", "must be a number"),
    ("elevation_m", True, "must be a number"),
])
def test_coordinates_out_of_range_are_reported(doc, cache, field, value, message):
    doc["instances"][4]["location"][field] = as_jsonb(value)
    assert errors(doc, cache) == [(f"/instances/4/location/{field}", message)]


def test_edge_coordinates_are_valid(doc, cache):
    doc["instances"][0]["location"] = as_jsonb({"lat": -90, "lon": 180, "elevation_m": -412.5})
    doc["instances"][1]["location"] = as_jsonb({"lat": 90.0, "lon": -180.0})
    assert errors(doc, cache) == []


@pytest.mark.parametrize(("value", "valid"), [
    ("https://twins.example.com/models/INV-1?rev=2#top", True),
    ("urn:uuid:4f0c7a2e-8a4e-4a5c-9c43-6f1d2b1e9a10", True),
    ("not a uri", False),
    ("twins.example.com/models/1", False),  # relative: no scheme
    ("https://example.com/a b", False),
    ("https://example.com/%zz", False),
    ("https://example.com/é", False),  # an IRI, not a URI
])
def test_model_url_must_be_a_uri(doc, cache, value, valid):
    i = index_of(doc, "VSI-150K")
    doc["instances"][i]["digital_twin"]["model_url"] = value
    expected = [] if valid else [(f"/instances/{i}/digital_twin/model_url", "must be a valid uri")]
    assert errors(doc, cache) == expected


@pytest.mark.parametrize(("value", "valid"), [
    ("2025-06-30T12:00:00Z", True),
    ("2025-06-30t12:00:00.123456+05:30", True),
    ("2016-12-31T23:59:60Z", True),  # a leap second
    ("2025-06-30T12:00:00", False),  # no offset
    ("2025-02-30T12:00:00Z", False),
    ("2025-13-01T12:00:00Z", False),
    ("2025-06-30T24:00:00Z", False),
    ("2025-06-30", False),
    ("2025-06-30T12:00:00Z\n", False),
    ("２０２５-06-30T12:00:00Z", False),  # full-width digits
])
def test_last_sync_must_be_an_rfc3339_date_time(doc, cache, value, valid):
    i = index_of(doc, "VSI-150K")
    doc["instances"][i]["digital_twin"]["last_sync"] = value
    expected = [] if valid else [(f"/instances/{i}/digital_twin/last_sync", "must be a valid date-time")]
    assert errors(doc, cache) == expected


def test_documents_assert_formats():
    schema = {"type": "array", "prefixItems": [{"format": f} for f in ("email", "uuid", "ipv4", "json-pointer")]}
    assert schema_errors(["ops@example.com", "4f0c7a2e-8a4e-4a5c-9c43-6f1d2b1e9a10", "10.0.0.1", "/a/~1b"], schema) == []
    assert schema_errors(["ops.example.com", "4f0c7a2e", "10.0.0.256", "a/b"], schema) == [
        ("/0", "must be a valid email"),
        ("/1", "must be a valid uuid"),
        ("/2", "must be a valid ipv4"),
        ("/3", "must be a valid json-pointer"),
    ]


def test_the_pg_jsonschema_api_keeps_format_an_annotation():
    schema = '{"properties": {"at": {"format": "date-time"}, "n": {"maximum": 3}}}'
    assert validation.instance_errors(schema, '{"at": "yesterday", "n": 4}') == [("/n", "must be <= 3")]


def test_an_unknown_format_is_only_an_annotation():
    assert schema_errors("anything", {"format": "hostname-of-my-own"}) == []


@pytest.mark.parametrize("version", ["4.0", "4.1.0", Decimal("4.1"), None])
def test_another_schema_version_is_reported(doc, cache, version):
    doc["schema_version"] = version
    assert errors(doc, cache) == [("/schema_version", 'must be "4.1"')]


def test_an_extra_property_of_a_closed_object_is_reported_where_it_is(doc, cache):
    # The root alone is closed: the spec leaves connection ends and voltages open.
    doc["connections"][0]["from"]["port"] = "dc_out"
    doc["conections"] = []
    i = index_of(doc, "VSI-150K")
    doc["instances"][i]["ports"][6]["signal"] = as_jsonb({"kind": "ac", "voltage": {"nominal": 800, "rms": True}})
    assert errors(doc, cache) == [("/conections", "property is not allowed")]


def test_an_invalid_member_of_a_closed_object_is_reported_once(doc, cache):
    # jsonschema 4.10 alone would also call the member "unevaluated".
    doc["connections"][0]["from"]["instance_id"] = Decimal(7)
    doc["meta"] = "none"
    assert errors(doc, cache) == [
        ("/connections/0/from/instance_id", "must be a string"),
        ("/meta", "must be an object"),
    ]


def test_open_sections_accept_vendor_data(doc, cache):
    doc["instances"][0]["vendor"] = as_jsonb({"acme": {"warranty_years": 12}})
    doc["finance"]["tax_equity"] = {"investor": "Sunbank"}
    doc["meta"]["versioning"]["branch"] = "main"
    doc["hierarchy"]["owner"] = "Iberia Renewables"
    doc["connections"][0]["cable"] = as_jsonb({"type": "H1Z2Z2-K", "cross_section_mm2": 6})
    assert errors(doc, cache) == []


def test_the_first_version_has_no_previous_hash(doc, cache):
    doc["meta"]["versioning"]["previous_hash"] = None
    assert errors(doc, cache) == []
    doc["meta"]["versioning"]["previous_hash"] = "sha256:00"
    assert errors(doc, cache) == [("/meta/versioning/previous_hash", "must match at least one of the allowed schemas")]


def test_hierarchy_levels_are_checked_at_every_depth(doc, cache):
    doc["hierarchy"]["children"][0]["children"][0]["children"][0]["level"] = "ZONE"
    assert errors(doc, cache) == [(
        "/hierarchy/children/0/children/0/children/0/level",
        'must be one of "PORTFOLIO", "SITE", "PLANT", "BLOCK", "ARRAY", "STRING", "DEVICE"',
    )]


def test_component_ids_follow_the_cmp_pattern(doc, cache):
    # No CMP id is required; one written as a CMP id must follow it, W optional.
    doc["libraries"]["components"][0]["id"] = "Helion HX-550M-72"
    doc["libraries"]["components"][1]["id"] = "CMP:Voltara:VSI-150K:150kW:C"
    doc["libraries"]["components"][2]["id"] = "CMP:Voltara:VSI-150K:150000W:C"
    pattern = "must match pattern ^CMP:[^:]+:[^:]+:[0-9]+(\\.[0-9]+)?W?:[^:]+$"
    assert errors(doc, cache) == [("/libraries/components/1/id", pattern)]


# --- numbers as the jsonb transform gives them ---------------------------------------


@pytest.mark.parametrize(("value", "message"), [
    (Decimal("6"), None),
    (Decimal("6.0"), None),
    (Decimal("6E+1"), None),
    (6, None),
    (6.0, None),
    (Decimal("6.5"), "must be an integer"),
    (Decimal("0"), "must be >= 1"),
    (Decimal("-3"), "must be >= 1"),
    (True, "must be an integer"),  # a boolean is never a number
    ("6", "must be an integer"),
])
def test_sync_frequency_is_a_whole_number_of_hours(doc, cache, value, message):
    i = index_of(doc, "VSI-150K")
    doc["instances"][i]["digital_twin"]["sync_frequency_hours"] = value
    expected = [] if message is None else [(f"/instances/{i}/digital_twin/sync_frequency_hours", message)]
    assert errors(doc, cache) == expected


def test_decimal_and_binary_numbers_compare_by_value():
    schema = {"properties": {
        "a": {"enum": [0.1, "x"]}, "b": {"const": 2.5}, "c": {"multipleOf": 0.1}, "d": {"const": 1},
    }}
    assert schema_errors({"a": Decimal("0.1"), "b": Decimal("2.50"), "c": Decimal("0.3"), "d": Decimal("1.0")}, schema) == []
    assert schema_errors({"a": 0.1, "b": 2.5, "c": 0.3, "d": 1}, schema) == []
    assert schema_errors({"a": Decimal("0.10000000000000001"), "c": Decimal("0.35"), "d": True}, schema) == [
        ("/a", 'must be one of 0.1, "x"'),
        ("/c", "must be a multiple of 0.1"),
        ("/d", "must be 1"),
    ]


def test_a_schema_from_jsonb_is_read_like_one_from_a_file():
    doc = as_jsonb(odlsd.generate(20_000, seed=4))
    doc["instances"][0]["location"]["lat"] = Decimal("90.01")
    expected = schema_errors(doc, SCHEMA)
    assert expected == [("/instances/0/location/lat", "must be <= 90")]
    assert schema_errors(doc, as_jsonb(SCHEMA)) == expected


def test_a_reference_to_the_root_keeps_decimal_integers_integers():
    # The root names $schema; jsonschema would pick its stock class there.
    schema = {"$schema": DRAFT, "type": "object",
              "properties": {"n": {"type": "integer"}, "child": {"$ref": "#"}}}
    assert schema_errors({"n": Decimal(1), "child": {"n": Decimal("2"), "child": {"n": Decimal("3.0")}}}, schema) == []
    assert schema_errors({"child": {"child": {"n": Decimal("3.5")}}}, schema) == [("/child/child/n", "must be an integer")]


def test_messages_never_show_python_reprs(doc, cache):
    doc["instances"][0]["location"]["lat"] = Decimal("123.4")
    doc["schema_version"] = Decimal("4.1")
    for _pointer, message in errors(doc, cache):
        assert "Decimal" not in message and "'" not in message


# --- reporting ---------------------------------------------------------------------


def test_every_error_is_reported_not_just_the_first(doc, cache):
    for i in range(12):
        doc["instances"][i]["lifecycle_status"] = "broken"
    del doc["hierarchy"]["level"]
    doc["meta"]["scale"] = "HUGE"
    found = errors(doc, cache)
    assert len(found) == 14
    assert [p for p, _ in found if p.startswith("/instances/")] == [f"/instances/{i}/lifecycle_status" for i in range(12)]


def test_errors_are_sorted_by_pointer_with_numeric_indexes(doc, cache):
    for i in (10, 2, 1):
        doc["instances"][i]["id"] = ""
    doc["connections"][0]["kind"] = ""
    doc["audit"] = "none"
    found = [p for p, _ in errors(doc, cache)]
    assert found == ["/audit", "/connections/0/kind", "/instances/1/id", "/instances/2/id", "/instances/10/id"]
    assert errors(copy.deepcopy(doc), {}) == errors(doc, cache)


def test_pointers_escape_tilde_and_slash(doc, cache):
    doc["a/b~c"] = 1
    assert errors(doc, cache) == [("/a~1b~0c", "property is not allowed")]


def test_a_document_that_is_not_an_object_is_reported_at_the_root(cache):
    assert schema_errors([], SCHEMA, cache) == [("", "must be an object")]
    assert integrity_errors([]) == [("", "document must be an object")]


# --- integrity ---------------------------------------------------------------------


def test_a_valid_document_has_integrity(doc):
    assert integrity_errors(doc) == []


def test_each_repeated_instance_id_is_reported(doc):
    n = len(doc["instances"])
    first, other = doc["instances"][1]["id"], doc["instances"][6]["id"]
    doc["instances"] += copy.deepcopy([doc["instances"][1], doc["instances"][6], doc["instances"][1]])
    assert integrity_errors(doc) == [
        (f"/instances/{n}/id", f'duplicate instance id "{first}" (first at /instances/1/id)'),
        (f"/instances/{n + 1}/id", f'duplicate instance id "{other}" (first at /instances/6/id)'),
        (f"/instances/{n + 2}/id", f'duplicate instance id "{first}" (first at /instances/1/id)'),
    ]


def test_a_connection_end_must_name_an_existing_instance(doc):
    doc["connections"][2]["from"]["instance_id"] = "GHOST-1"
    doc["connections"][5]["to"]["instance_id"] = "GHOST-2"
    doc["connections"][5]["from"]["instance_id"] = "ghost-3"
    assert integrity_errors(doc) == [
        ("/connections/2/from/instance_id", 'unknown instance "GHOST-1"'),
        ("/connections/5/from/instance_id", 'unknown instance "ghost-3"'),
        ("/connections/5/to/instance_id", 'unknown instance "GHOST-2"'),
    ]


def test_removing_an_instance_orphans_its_connections(doc):
    removed = doc["instances"].pop(index_of(doc, "VSI-150K"))["id"]
    orphaned = [
        f"/connections/{i}/{end}/instance_id"
        for i, c in enumerate(doc["connections"]) for end in ("from", "to") if c[end]["instance_id"] == removed
    ]
    assert len(orphaned) >= 4
    assert [p for p, _ in integrity_errors(doc)] == orphaned


def test_an_unsupported_schema_version_is_an_integrity_error(doc):
    doc["schema_version"] = "5.0"
    assert integrity_errors(doc) == [("/schema_version", 'unsupported schema version "5.0" (supported: 4.1)')]
    assert integrity_errors(doc, supported_versions={"4.1", "5.0"}) == []
    assert integrity_errors(doc, supported_versions=()) == [("/schema_version", 'unsupported schema version "5.0"')]
    del doc["schema_version"]
    assert integrity_errors(doc) == [("", "missing schema_version")]


def test_integrity_skips_shapes_the_schema_reports(doc, cache):
    doc["instances"].append("not an instance")
    doc["instances"].append({"id": Decimal(3)})
    doc["connections"].append({"from": "nowhere", "to": None})
    assert integrity_errors(doc) == []
    assert len(errors(doc, cache)) >= 4
    assert integrity_errors({"schema_version": "4.1", "instances": {}, "connections": 5}) == []


# --- the validator and its cache --------------------------------------------------------


def test_an_equal_schema_is_served_from_the_cache():
    cache = {}
    first = validator_for(SCHEMA, cache)
    assert validator_for(copy.deepcopy(SCHEMA), cache) is first
    assert validator_for(as_jsonb(SCHEMA), cache) is first  # same content, Decimal numbers
    assert list(cache["validators"]) == [(validation.content_hash(SCHEMA), True)]


def test_a_changed_schema_is_compiled_afresh():
    cache = {}
    doc = as_jsonb(odlsd.generate(20_000, seed=4))
    doc["instances"][0]["location"]["lat"] = Decimal("45.5")
    before = validator_for(SCHEMA, cache)
    stricter = copy.deepcopy(SCHEMA)
    stricter["$defs"]["location"]["properties"]["lat"]["maximum"] = 45
    after = validator_for(stricter, cache)
    assert after is not before and len(cache["validators"]) == 2
    assert schema_errors(doc, SCHEMA, cache) == []
    assert schema_errors(doc, stricter, cache) == [("/instances/0/location/lat", "must be <= 45")]


def test_the_cache_stays_bounded_and_spares_other_entries():
    cache = {"odl_db_generation": "kept"}
    for n in range(validation.CACHE_LIMIT + 10):
        validator_for({"maxLength": n}, cache)
    assert len(cache["validators"]) == validation.CACHE_LIMIT and cache["odl_db_generation"] == "kept"
    assert (validation.content_hash({"maxLength": validation.CACHE_LIMIT + 9}), True) in cache["validators"]


# --- the schema itself and draft 2020-12 ----------------------------------------------------


def test_the_odl_sd_schema_is_a_valid_2020_12_schema():
    assert check_schema(SCHEMA) == []
    assert check_schema(as_jsonb(SCHEMA)) == []
    assert SCHEMA["$schema"] == DRAFT
    assert SCHEMA["$id"] == "https://odl-db.invalid/odl-db/schemas/odl-sd-4.1.schema.json"  # not the spec's: it differs from it


@pytest.mark.parametrize(("schema", "problem"), [
    ({"type": 5}, "/type: must match at least one of the allowed schemas"),
    ({"type": "strin"}, "/type: must match at least one of the allowed schemas"),
    ({"minLength": -1}, "/minLength: must be >= 0"),
    ({"minLength": Decimal("1.5")}, "/minLength: must be an integer"),
    ({"pattern": "("}, "/pattern: must be a valid regex"),
    ({"patternProperties": {"[": {}}}, '/patternProperties/[: property name "[" must be a valid regex'),
    ({"required": ["a", "a"]}, "/required: items must be unique"),
    ({"properties": {"a": {"$defs": []}}}, "/properties/a/$defs: must be an object"),
    (5, "(root): must be a boolean or an object"),
])
def test_check_schema_reports_what_is_wrong(schema, problem):
    assert check_schema(schema) == [problem]


def test_a_schema_from_jsonb_has_no_integer_problems():
    assert check_schema({"minLength": Decimal("3"), "maxItems": Decimal("2.0"), "maximum": Decimal("2.5")}) == []
    assert check_schema(True) == [] and check_schema({}) == []


def test_an_invalid_schema_is_refused_when_compiled():
    with pytest.raises(InvalidSchemaError, match="/minLength: must be >= 0"):
        validator_for({"minLength": -1})


@pytest.mark.parametrize("ref", [
    "https://example.com/schema.json",
    "file:///etc/passwd",
    "other.json#/a",
    "#/$defs/missing",
])
def test_references_outside_the_schema_are_refused_without_fetching(ref):
    with pytest.raises(InvalidSchemaError, match="cannot resolve"):
        schema_errors({}, {"$ref": ref})


def test_the_2020_12_meta_schema_resolves_locally():
    assert schema_errors({"type": "string"}, {"$ref": DRAFT}) == []
    assert schema_errors({"type": 5}, {"$ref": DRAFT}) == [("/type", "must match at least one of the allowed schemas")]


def test_refs_and_defs_resolve_by_pointer_and_by_id():
    schema = {
        "$id": "https://example.com/plant",
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/volts"},
            "b": {"$ref": "https://example.com/amps"},
            "c": {"$ref": "#/$defs/volts", "maximum": 10},  # $ref beside other keywords
        },
        "$defs": {
            "volts": {"type": "number", "minimum": 0},
            "amps": {"$id": "https://example.com/amps", "type": "integer"},
        },
    }
    assert schema_errors(as_jsonb({"a": 1.5, "b": 2, "c": 3}), schema) == []
    assert schema_errors(as_jsonb({"a": -1, "b": 2.5, "c": 11}), schema) == [
        ("/a", "must be >= 0"), ("/b", "must be an integer"), ("/c", "must be <= 10"),
    ]


def test_unevaluated_properties_see_through_refs_and_applicators():
    schema = {
        "$defs": {"named": {"properties": {"name": {"type": "string"}}}},
        "allOf": [{"$ref": "#/$defs/named"}],
        "properties": {"id": {"type": "string"}},
        "if": {"properties": {"kind": {"const": "pv"}}, "required": ["kind"]},
        "then": {"properties": {"kind": True, "peak_w": {"type": "number"}}},
        "unevaluatedProperties": False,
    }
    assert schema_errors({"id": "a", "name": "b", "kind": "pv", "peak_w": 5}, schema) == []
    assert schema_errors({"id": "a", "name": "b", "kind": "bess", "peak_w": 5}, schema) == [
        ("/kind", "property is not allowed"), ("/peak_w", "property is not allowed"),
    ]


def test_dynamic_refs_follow_the_dynamic_anchor():
    tree = {
        "$id": "https://example.com/tree",
        "$dynamicAnchor": "node",
        "type": "object",
        "properties": {"value": {"type": "number"}, "children": {"type": "array", "items": {"$dynamicRef": "#node"}}},
    }
    doc = {"value": 1, "children": [{"value": 2, "children": [{"value": "three"}]}]}
    assert schema_errors(as_jsonb(doc), tree) == [("/children/0/children/0/value", "must be a number")]


def test_dynamic_refs_extend_a_recursive_schema():
    # The spec's own example: a strict tree forbids unknown members at every depth.
    tree = {
        "$id": "https://example.com/tree",
        "$dynamicAnchor": "node",
        "type": "object",
        "properties": {"data": True, "children": {"type": "array", "items": {"$dynamicRef": "#node"}}},
    }
    strict = {
        "$id": "https://example.com/strict-tree",
        "$dynamicAnchor": "node",
        "$ref": "tree",
        "unevaluatedProperties": False,
        "$defs": {"tree": tree},
    }
    assert schema_errors({"children": [{"daat": 1}]}, strict) == [("/children/0/daat", "property is not allowed")]


def test_other_2020_12_keywords_work():
    schema = {
        "type": "array",
        "prefixItems": [{"const": "header"}],
        "items": False,
        "contains": {"type": "object"},
    }
    assert schema_errors(["header"], schema)[0][0] == ""
    assert schema_errors(["header", "extra"], schema)[-1] == ("/1", "item is not allowed")
    loose = {"prefixItems": [{"type": "string"}], "unevaluatedItems": {"type": "integer"}}
    assert schema_errors(["a", 1, None, None, [1]], loose) == [
        ("", "has items that no schema evaluates (unevaluatedItems)"),
    ]
    assert schema_errors(["a", 1, 2], loose) == []
    pairs = {"dependentRequired": {"min": ["max"]}, "propertyNames": {"pattern": "^[a-z]+$"}}
    assert schema_errors({"min": 1, "Max": 2}, pairs) == [
        ("", 'missing property "max", required by dependentRequired'),
        ("/Max", 'property name "Max" must match pattern ^[a-z]+$'),
    ]
