"""Validation after a patch (schema_errors_after_patch), which validates
only what the patch changed where the schema allows, always answers what
full validation answers. Without a database.

The premise, as in odl_apply_patch(): the document before the patch was
valid against the same schema."""

from __future__ import annotations

import copy
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from odl_db import documents, jsonpatch
from odl_db.validation import schema_errors, schema_errors_after_patch

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

SCHEMA = json.loads((TOP / "schemas/odl-sd-4.1.schema.json").read_text())
CACHE: dict = {}  # shared by the tests, as GD is by the statements of a backend
PROPERTIES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def as_jsonb(value):
    """`value` as the jsonb transform delivers it: numbers are Decimal."""
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)


_DOCS: dict = {}


def odl_doc(size: int, seed: int):
    """A valid generated document (a fresh copy each time)."""
    if (size, seed) not in _DOCS:
        _DOCS[size, seed] = as_jsonb(odlsd.generate(size, seed))
    return copy.deepcopy(_DOCS[size, seed])


def patched(doc, patch):
    """The patched document, sharing what the patch left alone with `doc`,
    as the writer applies patches."""
    new, _ = jsonpatch.apply(doc, patch, copy_on_write=True)
    return new


def both(doc, patch, schema=SCHEMA):
    """(incremental, full) errors of the patched document."""
    assert schema_errors(doc, schema, CACHE) == [], "the premise: the document before the patch is valid"
    new = patched(doc, patch)
    return schema_errors_after_patch(new, schema, doc, CACHE), schema_errors(new, schema, CACHE)


# --- examples on ODL-SD documents -----------------------------------------------------


def test_a_replaced_member_of_an_instance_is_reported_where_it_is():
    doc = odl_doc(30_000, 7)
    incremental, full = both(doc, [{"op": "replace", "path": "/instances/7/lifecycle_status", "value": "broken"}])
    assert incremental == full == [(
        "/instances/7/lifecycle_status",
        'must be one of "planned", "procured", "installed", "commissioned", "operational", "maintenance",'
        ' "decommissioned"',
    )]


def test_an_unknown_top_level_section_is_refused():
    incremental, full = both(odl_doc(30_000, 7), [{"op": "add", "path": "/conections", "value": []}])
    assert incremental == full == [("/conections", "property is not allowed")]


def test_removing_a_required_top_level_section_is_reported_at_the_root():
    patch = [{"op": "remove", "path": "/meta"}, {"op": "remove", "path": "/finance"}]
    incremental, full = both(odl_doc(30_000, 7), patch)
    assert incremental == full == [("", 'missing required property "meta"')]


def test_a_replaced_section_is_validated_whole():
    doc = odl_doc(30_000, 7)
    instances = copy.deepcopy(doc["instances"])
    instances[3]["location"]["lat"] = Decimal(91)
    del instances[9]["type_ref"]
    incremental, full = both(doc, [
        {"op": "replace", "path": "/instances", "value": instances},
        {"op": "replace", "path": "/meta", "value": "none"},
    ])
    assert incremental == full == [
        ("/instances/3/location/lat", "must be <= 90"),
        ("/instances/9", 'missing required property "type_ref"'),
        ("/meta", "must be an object"),
    ]


def test_a_replaced_document_is_validated_whole():
    doc = odl_doc(30_000, 7)
    other = copy.deepcopy(doc)
    other["hierarchy"]["level"] = "ZONE"
    other["connections"][2]["kind"] = "x"
    incremental, full = both(doc, [{"op": "replace", "path": "", "value": other}])
    assert incremental == full and len(full) == 2
    incremental, full = both(doc, [{"op": "replace", "path": "", "value": []}])
    assert incremental == full == [("", "must be an object")]


def test_an_instance_moved_into_the_connections_is_reported_at_its_new_place():
    doc = odl_doc(30_000, 7)
    n = len(doc["connections"])
    incremental, full = both(doc, [{"op": "move", "from": "/instances/3", "path": "/connections/-"}])
    assert incremental == full == [
        (f"/connections/{n}", 'missing required property "from"'),
        (f"/connections/{n}", 'missing required property "kind"'),
        (f"/connections/{n}", 'missing required property "to"'),
    ]


def test_an_appended_element_is_reported_at_its_index():
    doc = odl_doc(30_000, 7)
    n = len(doc["instances"])
    incremental, full = both(doc, [{"op": "add", "path": "/instances/-", "value": {"id": "", "type_ref": "x"}}])
    assert incremental == full == [(f"/instances/{n}/id", "must have at least 1 character")]


def test_later_insertions_and_removals_move_earlier_errors():
    doc = odl_doc(30_000, 7)
    incremental, full = both(doc, [
        {"op": "replace", "path": "/instances/5/location/lat", "value": Decimal(100)},
        {"op": "add", "path": "/instances/0", "value": copy.deepcopy(doc["instances"][1])},
        {"op": "add", "path": "/instances/0", "value": copy.deepcopy(doc["instances"][2])},
        {"op": "remove", "path": "/instances/1"},
        {"op": "replace", "path": "/connections/4/kind", "value": "dc"},
        {"op": "remove", "path": "/connections/0"},
    ])
    assert [pointer for pointer, _ in incremental] == ["/connections/3/kind", "/instances/6/location/lat"]
    assert incremental == full


def test_a_patch_that_only_tests_finds_nothing():
    doc = odl_doc(30_000, 7)
    incremental, full = both(doc, [{"op": "test", "path": "/meta/domain", "value": doc["meta"]["domain"]}])
    assert incremental == full == []


# --- generated patches ------------------------------------------------------------------

KEYS = [
    "a", "b", "k", "x1", "xy", "xyz", "list", "v", "kids", "n", "tag", "kind", "p", "q", "e", "f", "g", "y", "arr",
    "tree", "id", "pairs", "bag", "loose", "self", "one", "j", "neg", "m", "bad", "s", "xa", "p1", "ZZ", "-", "0",
]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 12).map(Decimal), st.sampled_from([Decimal("0.5"), Decimal("91")]),
    st.sampled_from(["", "z", "s", "p", "abcd", "planned", "broken", "dc", "ac", "ARRAY", "ZONE", "CMP:a:b:1:c"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=6,
)


def locations(value, path=()):
    """Every location in `value`, as token tuples (array indexes as int)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from locations(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from locations(item, (*path, index))


def value_at(doc, path):
    for token in path:
        doc = doc[token]
    return doc


def pointer(path) -> str:
    return jsonpatch.format_pointer(list(path))


@st.composite
def operations(draw, doc, focus=(), novel_keys=KEYS):
    """One operation on `doc`, aimed below the location `focus`: the values
    it writes are copies of what is in the document (often valid) or small
    values of every kind (often not)."""
    inside = list(locations(value_at(doc, focus), focus)) if focus is not None else [()]
    everywhere = list(locations(doc))
    name = draw(st.sampled_from(["add", "add", "remove", "replace", "replace", "move", "copy", "test"]))
    value = draw(st.one_of(VALUES, st.sampled_from(everywhere).map(lambda path: copy.deepcopy(value_at(doc, path)))))

    def destination() -> str:
        containers = [path for path in inside if isinstance(value_at(doc, path), (dict, list))] or [()]
        where = draw(st.sampled_from(containers))
        container = value_at(doc, where)
        if isinstance(container, dict):
            token = draw(st.sampled_from(sorted(container) + list(novel_keys)))
        elif isinstance(container, list):
            token = draw(st.sampled_from(["-", *range(len(container) + 1)]))
        else:
            return pointer(where)
        return pointer((*where, token))

    if name == "add":
        return {"op": "add", "path": destination(), "value": value}
    target = draw(st.sampled_from(inside))
    if name == "remove":
        return {"op": "remove", "path": pointer(target)}
    if name == "replace":
        return {"op": "replace", "path": pointer(target), "value": value}
    if name == "test":
        return {"op": "test", "path": pointer(target), "value": copy.deepcopy(value_at(doc, target))}
    source = draw(st.sampled_from(everywhere if name == "copy" else inside))
    return {"op": name, "from": pointer(source), "path": destination()}


def draw_patch(data, doc, aims, size=10, novel_keys=KEYS):
    """A patch of 1 to `size` operations that applies to `doc`, each aimed
    at a location drawn from `aims` (None: the whole document)."""
    work, patch = doc, []
    for _ in range(data.draw(st.integers(1, size), label="operations")):
        aim = data.draw(st.sampled_from(aims), label="aim")
        if aim is not None and not isinstance(work, dict):
            aim = None
        if aim is not None and aim and aim[0] not in work:
            aim = ()
        op = data.draw(operations(work, aim, novel_keys), label="operation")
        try:
            work, _ = jsonpatch.apply(copy.deepcopy(work), [op])
        except jsonpatch.PatchError:
            continue
        patch.append(op)
    if not patch:
        patch = [{"op": "test", "path": "", "value": copy.deepcopy(doc)}]
    return patch


ODL_AIMS = [
    ("instances",), ("instances",), ("connections",), ("connections",), ("meta",), ("hierarchy",), ("libraries",),
    ("data_management",), ("finance",), ("audit",), ("schema_version",), (), (), None,
]
ODL_KEYS = [
    "conections", "extra", "meta", "schema_version", "lifecycle_status", "lat", "id", "type_ref", "kind", "from",
    "level", "children", "components", "-", "0",
]


@PROPERTIES
@given(st.integers(0, 30), st.sampled_from([10_000, 20_000]), st.data())
def test_errors_after_a_patch_are_those_of_full_validation(seed, size, data):
    doc = odl_doc(size, seed)
    patch = draw_patch(data, doc, ODL_AIMS, novel_keys=ODL_KEYS)
    incremental, full = both(doc, patch)
    assert incremental == full


def schema_of(version):
    return SCHEMA if version == "4.1" else None


FULL_CACHE: dict = {}


@settings(PROPERTIES, max_examples=60)
@given(st.integers(0, 30), st.data())
def test_a_change_is_judged_as_a_full_check_judges_it(seed, data):
    doc = odl_doc(10_000, seed)
    patch = draw_patch(data, doc, ODL_AIMS, novel_keys=ODL_KEYS)
    outcome = documents.change(copy.deepcopy(doc), patch, schema_of, CACHE)
    new, _ = jsonpatch.apply(copy.deepcopy(doc), patch)
    expected = documents.check(new, schema_of, FULL_CACHE)
    assert outcome.document == new
    assert outcome._replace(document=None, inverse=None) == expected


# Schemas that put each kind of keyword where the walk meets it, each with a
# valid document that the tests change at random, keeping it valid, before
# patching it.
TRICKY = {
    "open members": ({
        "type": "object",
        "required": ["a"],
        "properties": {
            "a": {"type": "integer"},
            "b": {"$ref": "#/$defs/node"},
            "list": {"type": "array", "items": {"$ref": "#/$defs/item"}, "maxItems": 6, "uniqueItems": True},
        },
        "patternProperties": {"^x": {"type": "string"}, "^xy": {"maxLength": 3}},
        "additionalProperties": {"type": ["integer", "object"], "properties": {"n": {"type": "integer"}}},
        "propertyNames": {"maxLength": 4},
        "minProperties": 1,
        "maxProperties": 8,
        "dependentRequired": {"b": ["a"]},
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "v": {"type": "integer", "minimum": 0},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
                "allOf": [{"required": ["v"]}, {"properties": {"v": {"maximum": 9}}}],
            },
            "item": {"$ref": "#/$defs/base", "properties": {"n": {"enum": [1, 2, 3]}}, "required": ["n"]},
            "base": {"type": "object", "properties": {"n": {"type": "integer"}, "tag": {"type": "string"}}},
        },
    }, {"a": 1, "b": {"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": []}]}, "list": [{"n": 1, "tag": "t"}, {"n": 2}],
        "x1": "s", "xy": "abc", "k": 5, "q": {"n": 1}}),
    "closed with applicators": ({
        "type": "object",
        "properties": {
            "kind": {"enum": ["p", "q"]},
            "x": {"type": "integer"},
            "arr": {"type": "array", "prefixItems": [{"type": "integer"}], "items": {"type": "string"},
                    "contains": {"const": "z"}},
        },
        "allOf": [{"$ref": "#/$defs/extra"}],
        "if": {"properties": {"kind": {"const": "p"}}, "required": ["kind"]},
        "then": {"properties": {"p": {"type": "integer"}}},
        "else": {"properties": {"q": {"type": "string"}}},
        "dependentSchemas": {"x": {"properties": {"y": {"type": "integer"}}}},
        "unevaluatedProperties": False,
        "$defs": {"extra": {"properties": {"e": {
            "type": "object",
            "properties": {"f": {"anyOf": [{"type": "null"}, {"type": "integer"}]}},
            "unevaluatedProperties": {"type": "string"},
        }}}},
    }, {"kind": "p", "p": 1, "x": 1, "y": 2, "arr": [1, "z"], "e": {"f": None, "g": "s"}}),
    "closed with patterns": ({
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "object", "unevaluatedProperties": False,
                                                    "patternProperties": {"^p": {"type": "integer"}}}},
        "patternProperties": {"^p": {"type": "integer"}, "^x": {"type": "object", "required": ["n"]}},
        "unevaluatedProperties": False,
    }, {"a": "s", "p1": 1, "xa": {"n": 1}, "b": {"p": 2}}),
    "arrays and recursion": ({
        "type": "object",
        "properties": {
            "tree": {"$ref": "#/$defs/tree"},
            "pairs": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
            "bag": {"type": "array", "items": {"type": "object", "properties": {"q": {"type": "integer"}}},
                    "uniqueItems": True, "contains": {"required": ["q"]}, "maxContains": 2, "minItems": 1},
            "loose": {"type": "array", "prefixItems": [{"type": "string"}], "unevaluatedItems": {"type": "integer"}},
            "self": {"$ref": "#"},
            "one": {"oneOf": [
                {"type": "object", "properties": {"k": {"const": 1}}, "required": ["k"]},
                {"type": "object", "properties": {"j": {"type": "string"}}, "required": ["j"]},
            ]},
            "neg": {"type": "object", "not": {"required": ["bad"]},
                    "properties": {"m": {"type": "array", "items": {"type": "integer"}}}},
        },
        "additionalProperties": False,
        "$defs": {"tree": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string", "minLength": 1},
                           "kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}, "maxItems": 3}},
        }},
    }, {"tree": {"id": "r", "kids": [{"id": "a"}, {"id": "b", "kids": [{"id": "c"}]}]}, "pairs": ["s", 1],
        "bag": [{"q": 1}, {"e": 2}], "loose": ["s", 1, 2], "self": {"pairs": ["t", 2]}, "one": {"k": 1},
        "neg": {"m": [1, 2]}}),
    "a reference at the root": ({
        "$ref": "#/$defs/doc",
        "allOf": [{"maxProperties": 3}],
        "$defs": {"doc": {"type": "object", "required": ["n"],
                          "properties": {"n": {"type": "integer"}, "s": {"$ref": "#/$defs/doc"},
                                         "list": {"items": {"$ref": "#/$defs/doc"}}}}},
    }, {"n": 1, "s": {"n": 2, "s": {"n": 3}}, "list": [{"n": 4}]}),
    "closed objects behind references": ({
        "type": "object",
        "properties": {"e": {"$ref": "#/$defs/end"}, "list": {"type": "array", "items": {"$ref": "#/$defs/end"}}},
        "$defs": {"end": {"$ref": "#/$defs/named", "properties": {"n": {"type": "integer"}},
                          "unevaluatedProperties": False},
                  "named": {"properties": {"tag": {"type": "string"}}, "required": ["tag"]}},
    }, {"e": {"tag": "a", "n": 1}, "list": [{"tag": "b"}, {"tag": "c", "n": 2}]}),
    "embedded resources": ({
        "$id": "https://example.com/root",
        "type": "object",
        "properties": {"t": {"$ref": "#/$defs/tree"}, "n": {"$ref": "#/$defs/leaf"}},
        "$defs": {
            # Inside this resource, "#" is the tree and "#/$defs/leaf" its own leaf.
            "tree": {"$id": "https://example.com/tree", "type": "object",
                     "properties": {"v": {"$ref": "#/$defs/leaf"}, "kids": {"type": "array", "items": {"$ref": "#"}}},
                     "$defs": {"leaf": {"type": "integer"}}},
            "leaf": {"type": "string"},
        },
    }, {"t": {"v": 1, "kids": [{"v": 2}]}, "n": "s"}),
    "dynamic references": ({
        "$id": "https://example.com/strict-tree",
        "$dynamicAnchor": "node",
        "$ref": "tree",
        "required": ["v"],
        "$defs": {"tree": {
            "$id": "https://example.com/tree",
            "$dynamicAnchor": "node",
            "type": "object",
            "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$dynamicRef": "#node"}}},
        }},
    }, {"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}),
}


@pytest.mark.parametrize("name", list(TRICKY))
@PROPERTIES
@given(data=st.data())
def test_errors_after_a_patch_are_those_of_full_validation_for_every_kind_of_keyword(name, data):
    schema, doc = TRICKY[name]
    doc = as_jsonb(doc)
    for _ in range(data.draw(st.integers(0, 6), label="changes before")):
        candidate = patched(doc, draw_patch(data, doc, [None, ()], size=1))
        if schema_errors(candidate, schema, CACHE) == []:
            doc = candidate
    patch = draw_patch(data, doc, [None, (), ()], size=6)
    incremental, full = both(doc, patch, schema)
    assert incremental == full


@settings(PROPERTIES, max_examples=300)
@given(VALUES.filter(lambda v: isinstance(v, (dict, list))), st.data())
def test_copy_on_write_leaves_the_document_intact_and_patches_as_in_place(doc, data):
    # What incremental validation rests on: a subtree found in both versions
    # is unchanged, because the old version is never changed at all.
    patch = draw_patch(data, doc, [None, ()], size=6)
    before = copy.deepcopy(doc)
    try:
        expected, expected_inverse = jsonpatch.apply(copy.deepcopy(doc), patch)
    except jsonpatch.PatchError as error:
        with pytest.raises(jsonpatch.PatchError) as caught:
            jsonpatch.apply(doc, patch, copy_on_write=True)
        assert (caught.value.kind, str(caught.value)) == (error.kind, str(error))
    else:
        new, inverse = jsonpatch.apply(doc, patch, copy_on_write=True)
        assert (new, inverse) == (expected, expected_inverse)
    assert doc == before


def test_copy_on_write_never_changes_a_value_moved_to_the_root():
    doc = {"a": {"b": {"c": 1}}, "d": 2}
    new, _ = jsonpatch.apply(doc, [
        {"op": "move", "from": "/a", "path": ""},
        {"op": "replace", "path": "/b/c", "value": 9},
        {"op": "add", "path": "/e", "value": 3},
    ], copy_on_write=True)
    assert new == {"b": {"c": 9}, "e": 3}
    assert doc == {"a": {"b": {"c": 1}}, "d": 2}


# --- speed ---------------------------------------------------------------------------------------


def ten_operations(doc):
    n = len(doc["instances"])
    return [
        {"op": "replace", "path": "/instances/7/lifecycle_status", "value": "operational"},
        {"op": "replace", "path": f"/instances/{n // 2}/location/lat", "value": Decimal("41.5")},
        {"op": "add", "path": "/instances/-", "value": copy.deepcopy(doc["instances"][3])},
        {"op": "remove", "path": "/connections/11"},
        {"op": "add", "path": "/connections/0", "value": copy.deepcopy(doc["connections"][5])},
        {"op": "replace", "path": "/meta/project", "value": "Renamed"},
        {"op": "add", "path": "/meta/timestamps/reviewed_at", "value": "2026-01-02T03:04:05Z"},
        {"op": "replace", "path": "/hierarchy/children/0/name", "value": "Site A"},
        {"op": "move", "from": "/instances/2", "path": "/instances/0"},
        {"op": "replace", "path": "/libraries/components/0/status", "value": "approved"},
    ]


def test_a_ten_operation_patch_on_a_megabyte_document_is_checked_in_milliseconds():
    doc = odl_doc(1_000_000, 5)
    patch = ten_operations(doc)
    new = patched(doc, patch)
    assert schema_errors_after_patch(new, SCHEMA, doc, CACHE) == []  # compiles
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        schema_errors_after_patch(new, SCHEMA, doc, CACHE)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.05, timings  # about 4 ms here
