"""RFC 6902 JSON Patch and RFC 6901 pointers: the RFCs' own kinds of
examples, every edge case with its error, agreement with the jsonpatch
library, and inverse patches that restore the original exactly.

No database: odl_db.jsonpatch is pure Python."""

import copy
from decimal import Decimal

import jsonpatch
import jsonpointer
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from odl_db.canonical import canonical_json, content_hash
from odl_db.jsonpatch import KINDS, PatchError, apply, equal, format_pointer, parse_pointer

REFERENCE_ERRORS = (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException)


def patched(doc, patch, **kwargs):
    result, _ = apply(copy.deepcopy(doc), patch, **kwargs)
    return result


def failure(doc, patch, **kwargs) -> PatchError:
    with pytest.raises(PatchError) as caught:
        apply(copy.deepcopy(doc), patch, **kwargs)
    return caught.value


# RFC 6902, appendix A: the same situations, with our own documents

APPENDIX_A = {
    "adding an object member": (
        {"site": "Lisbon"},
        [{"op": "add", "path": "/capacity", "value": 12}],
        {"site": "Lisbon", "capacity": 12},
    ),
    "adding an array element shifts the rest": (
        {"strings": ["s1", "s3"]},
        [{"op": "add", "path": "/strings/1", "value": "s2"}],
        {"strings": ["s1", "s2", "s3"]},
    ),
    "removing an object member": (
        {"site": "Lisbon", "draft": True},
        [{"op": "remove", "path": "/draft"}],
        {"site": "Lisbon"},
    ),
    "removing an array element shifts the rest": (
        {"strings": ["s1", "s2", "s3"]},
        [{"op": "remove", "path": "/strings/1"}],
        {"strings": ["s1", "s3"]},
    ),
    "replacing a value": (
        {"site": "Lisbon", "capacity": 12},
        [{"op": "replace", "path": "/capacity", "value": 15}],
        {"site": "Lisbon", "capacity": 15},
    ),
    "moving a value between objects": (
        {"draft": {"inverter": "x1", "panel": "p1"}, "final": {"panel": "p2"}},
        [{"op": "move", "from": "/draft/inverter", "path": "/final/inverter"}],
        {"draft": {"panel": "p1"}, "final": {"panel": "p2", "inverter": "x1"}},
    ),
    "moving an array element": (
        {"strings": ["a", "b", "c", "d"]},
        [{"op": "move", "from": "/strings/1", "path": "/strings/3"}],
        {"strings": ["a", "c", "d", "b"]},
    ),
    "a passing test changes nothing": (
        {"site": "Lisbon", "strings": [1, "two", {"x": None}]},
        [
            {"op": "test", "path": "/site", "value": "Lisbon"},
            {"op": "test", "path": "/strings", "value": [1, "two", {"x": None}]},
        ],
        {"site": "Lisbon", "strings": [1, "two", {"x": None}]},
    ),
    "adding a nested object": (
        {"site": "Lisbon"},
        [{"op": "add", "path": "/grid", "value": {"voltage": 400}}],
        {"site": "Lisbon", "grid": {"voltage": 400}},
    ),
    "unrecognised members are ignored": (
        {"site": "Lisbon"},
        [{"op": "add", "path": "/capacity", "value": 12, "reason": "survey", "from": 7}],
        {"site": "Lisbon", "capacity": 12},
    ),
    "escapes are decoded ~1 first, so ~01 names the key ~1": (
        {"/": 1, "~1": 2},
        [{"op": "test", "path": "/~01", "value": 2}, {"op": "test", "path": "/~1", "value": 1}],
        {"/": 1, "~1": 2},
    ),
    "an array value is added as one element": (
        {"strings": ["s1"]},
        [{"op": "add", "path": "/strings/-", "value": ["s2", "s3"]}],
        {"strings": ["s1", ["s2", "s3"]]},
    ),
}


@pytest.mark.parametrize("doc, patch, expected", APPENDIX_A.values(), ids=APPENDIX_A.keys())
def test_rfc6902_appendix_a_situations_give_the_rfc_results(doc, patch, expected):
    result = patched(doc, patch)
    assert equal(result, expected)
    assert equal(result, jsonpatch.apply_patch(doc, patch))


APPENDIX_A_ERRORS = {
    "a failing test": (
        {"site": "Lisbon"},
        [{"op": "test", "path": "/site", "value": "Porto"}],
        "test_failed",
    ),
    "adding below a member that does not exist": (
        {"site": "Lisbon"},
        [{"op": "add", "path": "/grid/voltage", "value": 400}],
        "path_not_found",
    ),
    "a string is not equal to a number": (
        {"capacity": "12"},
        [{"op": "test", "path": "/capacity", "value": 12}],
        "test_failed",
    ),
}


@pytest.mark.parametrize("doc, patch, kind", APPENDIX_A_ERRORS.values(), ids=APPENDIX_A_ERRORS.keys())
def test_rfc6902_appendix_a_errors_are_refused(doc, patch, kind):
    error = failure(doc, patch)
    assert (error.kind, error.index, error.pointer) == (kind, 0, patch[0]["path"])
    with pytest.raises(REFERENCE_ERRORS):
        jsonpatch.apply_patch(doc, patch)


# RFC 6901, section 5: a document with awkward keys, and what each pointer names

POINTER_DOC = {
    "strings": ["s1", "s2"],
    "": "empty",
    "a/b": "slash",
    "c%d": "percent",
    "e^f": "caret",
    "g|h": "bar",
    "i\\j": "backslash",
    'k"l': "quote",
    " ": "space",
    "m~n": "tilde",
    "01": "numeric key",
}

POINTERS = [
    ("", [], POINTER_DOC),
    ("/strings", ["strings"], ["s1", "s2"]),
    ("/strings/0", ["strings", "0"], "s1"),
    ("/", [""], "empty"),
    ("/a~1b", ["a/b"], "slash"),
    ("/c%d", ["c%d"], "percent"),
    ("/e^f", ["e^f"], "caret"),
    ("/g|h", ["g|h"], "bar"),
    ("/i\\j", ["i\\j"], "backslash"),
    ('/k"l', ['k"l'], "quote"),
    ("/ ", [" "], "space"),
    ("/m~0n", ["m~n"], "tilde"),
    ("/01", ["01"], "numeric key"),
]


@pytest.mark.parametrize("pointer, tokens, value", POINTERS, ids=[p[0] or "root" for p in POINTERS])
def test_rfc6901_pointers_name_the_rfc_values(pointer, tokens, value):
    assert parse_pointer(pointer) == tokens
    assert format_pointer(tokens) == pointer
    patched(POINTER_DOC, [{"op": "test", "path": pointer, "value": value}])


@pytest.mark.parametrize(
    "pointer", ["a", "strings", "#/strings", "/~", "/a~2b", "/~a", "/x/~", "/~~01", "/~~11"]
)
def test_malformed_pointers_are_refused(pointer):
    with pytest.raises(PatchError) as caught:
        parse_pointer(pointer)
    assert (caught.value.kind, caught.value.index, caught.value.pointer) == (
        "malformed_patch", None, pointer
    )


def test_formatting_a_pointer_escapes_tilde_before_slash():
    assert format_pointer(["~1", "a/b", 3]) == "/~01/a~1b/3"
    assert format_pointer([]) == ""


@given(st.lists(st.text(max_size=5), max_size=5))
def test_pointers_round_trip_through_text(tokens):
    assert parse_pointer(format_pointer(tokens)) == tokens


@given(st.text(alphabet="/~01a-", max_size=8))
def test_pointer_parsing_agrees_with_the_jsonpointer_library(text):
    try:
        expected = jsonpointer.JsonPointer(text).parts
    except jsonpointer.JsonPointerException:
        with pytest.raises(PatchError):
            parse_pointer(text)
    else:
        assert parse_pointer(text) == expected


# Edge cases, each with the kind of error, the operation and the pointer at fault

DOC = {"a": {"b": 1}, "arr": [10, 20, 30], "text": "abc", "n": 5, "z": None}
ADD_X = {"op": "add", "path": "/x", "value": 1}

EDGE_CASES = {
    "a patch that is not an array": (
        {"op": "add", "path": "/x", "value": 1}, "malformed_patch", None, None),
    "more operations than the limit, even malformed ones": (
        [{"op": "bogus"}] * 101, "too_many_operations", None, None),
    "an operation that is not an object": (["add"], "malformed_patch", 0, None),
    "a missing op": ([{"path": "/x", "value": 1}], "malformed_patch", 0, None),
    "an unknown op": ([{"op": "append", "path": "/x", "value": 1}], "malformed_patch", 0, None),
    "an op that is not a string": ([{"op": 1, "path": "/x"}], "malformed_patch", 0, None),
    "a missing path": ([{"op": "add", "value": 1}], "malformed_patch", 0, None),
    "a path that is not a string": (
        [{"op": "remove", "path": ["a"]}], "malformed_patch", 0, None),
    "a path without a leading slash": (
        [{"op": "remove", "path": "a"}], "malformed_patch", 0, "a"),
    "a path with a bad escape": (
        [{"op": "remove", "path": "/a~2"}], "malformed_patch", 0, "/a~2"),
    "a path ending in a lone tilde": (
        [{"op": "remove", "path": "/a~"}], "malformed_patch", 0, "/a~"),
    "add without value": ([{"op": "add", "path": "/x"}], "malformed_patch", 0, "/x"),
    "replace without value": ([{"op": "replace", "path": "/n"}], "malformed_patch", 0, "/n"),
    "test without value": ([{"op": "test", "path": "/z"}], "malformed_patch", 0, "/z"),
    "move without from": ([{"op": "move", "path": "/x"}], "malformed_patch", 0, None),
    "copy with a from that is not a string": (
        [{"op": "copy", "from": 3, "path": "/x"}], "malformed_patch", 0, None),
    "a from with a bad escape": (
        [{"op": "copy", "from": "/~3", "path": "/x"}], "malformed_patch", 0, "/~3"),
    "removing the whole document": ([{"op": "remove", "path": ""}], "malformed_patch", 0, ""),
    "moving a value into its own child": (
        [{"op": "move", "from": "/a", "path": "/a/b/c"}], "malformed_patch", 0, "/a/b/c"),
    "moving the whole document into a member": (
        [{"op": "move", "from": "", "path": "/x"}], "malformed_patch", 0, "/x"),
    "a malformed operation is found before anything is applied": (
        [{"op": "remove", "path": "/missing"}, ADD_X, {"op": "add", "path": "/y"}],
        "malformed_patch", 2, "/y"),
    "removing a missing member": ([{"op": "remove", "path": "/missing"}], "path_not_found", 0, "/missing"),
    "replacing a missing member": (
        [{"op": "replace", "path": "/missing", "value": 1}], "path_not_found", 0, "/missing"),
    "removing below a missing member": (
        [{"op": "remove", "path": "/missing/b"}], "path_not_found", 0, "/missing/b"),
    "removing below a number": ([{"op": "remove", "path": "/n/0"}], "path_not_found", 0, "/n/0"),
    "removing below a string": ([{"op": "remove", "path": "/text/0"}], "path_not_found", 0, "/text/0"),
    "removing below null": ([{"op": "remove", "path": "/z/0"}], "path_not_found", 0, "/z/0"),
    "adding below a missing member": (
        [{"op": "add", "path": "/missing/b", "value": 1}], "path_not_found", 0, "/missing/b"),
    "adding below a string": (
        [{"op": "add", "path": "/text/x", "value": 1}], "path_not_found", 0, "/text/x"),
    "adding below null": ([{"op": "add", "path": "/z/x", "value": 1}], "path_not_found", 0, "/z/x"),
    "adding past the end of an array": (
        [{"op": "add", "path": "/arr/4", "value": 1}], "path_not_found", 0, "/arr/4"),
    "removing the element after the last": (
        [{"op": "remove", "path": "/arr/3"}], "path_not_found", 0, "/arr/3"),
    "an index with a leading zero": ([{"op": "remove", "path": "/arr/01"}], "path_not_found", 0, "/arr/01"),
    "adding at an index with a leading zero": (
        [{"op": "add", "path": "/arr/00", "value": 1}], "path_not_found", 0, "/arr/00"),
    "a negative index": ([{"op": "remove", "path": "/arr/-1"}], "path_not_found", 0, "/arr/-1"),
    "an index with a plus sign": ([{"op": "remove", "path": "/arr/+1"}], "path_not_found", 0, "/arr/+1"),
    "an index with a space": ([{"op": "remove", "path": "/arr/ 1"}], "path_not_found", 0, "/arr/ 1"),
    "an index with a fraction": ([{"op": "remove", "path": "/arr/1.0"}], "path_not_found", 0, "/arr/1.0"),
    "an index of non-ascii digits": (
        [{"op": "remove", "path": "/arr/\u0661"}], "path_not_found", 0, "/arr/\u0661"),
    "a huge index": (
        [{"op": "add", "path": "/arr/" + "9" * 5000, "value": 1}],
        "path_not_found", 0, "/arr/" + "9" * 5000),
    "an empty key on an array": ([{"op": "remove", "path": "/arr/"}], "path_not_found", 0, "/arr/"),
    "removing -": ([{"op": "remove", "path": "/arr/-"}], "path_not_found", 0, "/arr/-"),
    "replacing -": ([{"op": "replace", "path": "/arr/-", "value": 1}], "path_not_found", 0, "/arr/-"),
    "testing -": ([{"op": "test", "path": "/arr/-", "value": None}], "test_failed", 0, "/arr/-"),
    "moving from -": (
        [{"op": "move", "from": "/arr/-", "path": "/x"}], "path_not_found", 0, "/arr/-"),
    "copying from -": (
        [{"op": "copy", "from": "/arr/-", "path": "/x"}], "path_not_found", 0, "/arr/-"),
    "- in the middle of an add path": (
        [{"op": "add", "path": "/arr/-/x", "value": 1}], "path_not_found", 0, "/arr/-/x"),
    "moving from a missing member": (
        [{"op": "move", "from": "/missing", "path": "/x"}], "path_not_found", 0, "/missing"),
    "moving a missing member onto itself": (
        [{"op": "move", "from": "/missing", "path": "/missing"}], "path_not_found", 0, "/missing"),
    "moving below a missing member": (
        [{"op": "move", "from": "/n", "path": "/missing/n"}], "path_not_found", 0, "/missing/n"),
    "moving past the end of the shortened array": (
        [{"op": "move", "from": "/arr/0", "path": "/arr/3"}], "path_not_found", 0, "/arr/3"),
    "copying from a missing member": (
        [{"op": "copy", "from": "/missing", "path": "/x"}], "path_not_found", 0, "/missing"),
    "testing a missing member": (
        [{"op": "test", "path": "/missing", "value": None}], "test_failed", 0, "/missing"),
    "testing below a missing member": (
        [{"op": "test", "path": "/missing/x", "value": None}], "test_failed", 0, "/missing/x"),
    "testing a different value": ([{"op": "test", "path": "/n", "value": 6}], "test_failed", 0, "/n"),
    "true is not 1": ([{"op": "test", "path": "/a/b", "value": True}], "test_failed", 0, "/a/b"),
    "null is not a missing member": ([{"op": "test", "path": "/y", "value": None}], "test_failed", 0, "/y"),
    "an object is not equal to a subset of it": (
        [{"op": "test", "path": "/a", "value": {}}], "test_failed", 0, "/a"),
    "an array is not equal to its reversal": (
        [{"op": "test", "path": "/arr", "value": [30, 20, 10]}], "test_failed", 0, "/arr"),
    "the failing operation is named, not the first": (
        [ADD_X, {"op": "test", "path": "/x", "value": 1}, {"op": "remove", "path": "/arr/7"}],
        "path_not_found", 2, "/arr/7"),
    "an earlier operation can remove what a later one needs": (
        [{"op": "remove", "path": "/a"}, {"op": "replace", "path": "/a/b", "value": 2}],
        "path_not_found", 1, "/a/b"),
}


@pytest.mark.parametrize(
    "patch, kind, index, pointer", EDGE_CASES.values(), ids=EDGE_CASES.keys()
)
def test_edge_cases_are_refused_with_kind_operation_and_pointer(patch, kind, index, pointer):
    error = failure(DOC, patch)
    assert (error.kind, error.index, error.pointer) == (kind, index, pointer)
    message = str(error)
    assert message == message.lower() or pointer and pointer != pointer.lower()
    assert not message.endswith(".")
    if index is not None:
        assert message.startswith(f"operation {index}")
    if pointer is not None:
        assert f'"{pointer}"' in message or len(pointer) > 100


def test_the_message_names_the_operation_and_the_pointer():
    doc = {"instances": list(range(5))}
    error = failure(doc, [ADD_X, ADD_X, ADD_X, {"op": "remove", "path": "/instances/7"}])
    assert str(error) == 'operation 3 (remove): path "/instances/7" does not exist'


def test_the_limit_on_operations_is_inclusive_and_configurable():
    assert patched({}, [ADD_X] * 100) == {"x": 1}
    assert patched({}, [ADD_X] * 3, max_operations=3) == {"x": 1}
    assert failure({}, [ADD_X] * 4, max_operations=3).kind == "too_many_operations"


EDGE_SUCCESSES = {
    "a null value is a value": (
        [{"op": "add", "path": "/x", "value": None}], {**DOC, "x": None}),
    "replacing with null": (
        [{"op": "replace", "path": "/n", "value": None}], {**DOC, "n": None}),
    "the pointer / names the empty key": (
        [{"op": "add", "path": "/", "value": 1}], {**DOC, "": 1}),
    "number-like keys on objects are keys": (
        [{"op": "add", "path": "/a/01", "value": 1}, {"op": "add", "path": "/a/-1", "value": 2}],
        {**DOC, "a": {"b": 1, "01": 1, "-1": 2}}),
    "- on an object is a key": (
        [{"op": "add", "path": "/a/-", "value": 1}, {"op": "replace", "path": "/a/-", "value": 2}],
        {**DOC, "a": {"b": 1, "-": 2}}),
    "- appends to an array": (
        [{"op": "add", "path": "/arr/-", "value": 40}], {**DOC, "arr": [10, 20, 30, 40]}),
    "the index after the last appends": (
        [{"op": "add", "path": "/arr/3", "value": 40}], {**DOC, "arr": [10, 20, 30, 40]}),
    "adding at 0 prepends": (
        [{"op": "add", "path": "/arr/0", "value": 0}], {**DOC, "arr": [0, 10, 20, 30]}),
    "adding to an existing member replaces it": (
        [{"op": "add", "path": "/n", "value": [1]}], {**DOC, "n": [1]}),
    "moving onto itself changes nothing": (
        [{"op": "move", "from": "/a/b", "path": "/a/b"}], DOC),
    "moving a member out from under its parent": (
        [{"op": "move", "from": "/a/b", "path": "/a"}], {**DOC, "a": 1}),
    "moving onto an existing member replaces it": (
        [{"op": "move", "from": "/n", "path": "/text"}],
        {"a": {"b": 1}, "arr": [10, 20, 30], "text": 5, "z": None}),
    "moving to - appends": (
        [{"op": "move", "from": "/arr/0", "path": "/arr/-"}], {**DOC, "arr": [20, 30, 10]}),
    "copying a value into itself": (
        [{"op": "copy", "from": "/a", "path": "/a/c"}], {**DOC, "a": {"b": 1, "c": {"b": 1}}}),
    "copying the whole document into a member": (
        [{"op": "copy", "from": "", "path": "/copy"}], {**DOC, "copy": DOC}),
    "replacing the whole document": ([{"op": "replace", "path": "", "value": [1]}], [1]),
    "adding the whole document": ([{"op": "add", "path": "", "value": "new"}], "new"),
    "moving a member to the whole document": ([{"op": "move", "from": "/a", "path": ""}], {"b": 1}),
    "moving the whole document onto itself": ([{"op": "move", "from": "", "path": ""}], DOC),
    "copying the whole document onto itself": ([{"op": "copy", "from": "", "path": ""}], DOC),
    "testing the whole document": ([{"op": "test", "path": "", "value": DOC}], DOC),
    "numbers are equal by value": (
        [{"op": "test", "path": "/n", "value": Decimal("5.00")}, {"op": "test", "path": "/n", "value": 5.0}],
        DOC),
    "a patch of only tests changes nothing": ([{"op": "test", "path": "/n", "value": 5}], DOC),
}


@pytest.mark.parametrize("patch, expected", EDGE_SUCCESSES.values(), ids=EDGE_SUCCESSES.keys())
def test_edge_cases_that_are_allowed(patch, expected):
    result, inverse = apply(copy.deepcopy(DOC), patch)
    assert equal(result, expected)
    assert equal(result, jsonpatch.apply_patch(DOC, patch))
    assert equal(restore(result, inverse), DOC)


def test_a_document_that_is_a_scalar_can_only_be_replaced():
    assert failure(5, [ADD_X]).kind == "path_not_found"
    assert patched(5, [{"op": "replace", "path": "", "value": {}}]) == {}


def test_a_copied_value_does_not_alias_its_source():
    result = patched(DOC, [
        {"op": "copy", "from": "/a", "path": "/c"},
        {"op": "replace", "path": "/c/b", "value": 2},
    ])
    assert result["a"] == {"b": 1} and result["c"] == {"b": 2}


def test_values_are_copied_out_of_the_patch():
    patch = [
        {"op": "add", "path": "/x", "value": {"y": [1]}},
        {"op": "add", "path": "/x/y/-", "value": 2},
        {"op": "add", "path": "/w", "value": {"y": [1]}},
    ]
    before = copy.deepcopy(patch)
    result = patched({}, patch)
    assert patch == before
    assert result == {"x": {"y": [1, 2]}, "w": {"y": [1]}}


# Inverse patches, by construction from what each step displaced

INVERSES = {
    "a new member is removed": (
        [{"op": "add", "path": "/x", "value": 1}], [{"op": "remove", "path": "/x"}]),
    "an overwritten member is put back": (
        [{"op": "add", "path": "/n", "value": 1}], [{"op": "replace", "path": "/n", "value": 5}]),
    "an appended element is removed at its index": (
        [{"op": "add", "path": "/arr/-", "value": 1}], [{"op": "remove", "path": "/arr/3"}]),
    "a removed element is added back at its index": (
        [{"op": "remove", "path": "/arr/1"}], [{"op": "add", "path": "/arr/1", "value": 20}]),
    "a replaced value is put back": (
        [{"op": "replace", "path": "/a", "value": 1}],
        [{"op": "replace", "path": "/a", "value": {"b": 1}}]),
    "a move without displacement is moved back": (
        [{"op": "move", "from": "/arr/0", "path": "/arr/-"}],
        [{"op": "move", "from": "/arr/2", "path": "/arr/0"}]),
    "a move onto a member puts it back, then adds the moved value": (
        [{"op": "move", "from": "/n", "path": "/text"}],
        [{"op": "replace", "path": "/text", "value": "abc"}, {"op": "add", "path": "/n", "value": 5}]),
    "a move up to an ancestor restores the ancestor, then the value": (
        [{"op": "move", "from": "/a/b", "path": "/a"}],
        [{"op": "replace", "path": "/a", "value": {}}, {"op": "add", "path": "/a/b", "value": 1}]),
    "a copy is removed": (
        [{"op": "copy", "from": "/n", "path": "/arr/0"}], [{"op": "remove", "path": "/arr/0"}]),
    "a test has no inverse": ([{"op": "test", "path": "/n", "value": 5}], []),
    "a move onto itself has no inverse": ([{"op": "move", "from": "/n", "path": "/n"}], []),
    "a new document is replaced by the old": (
        [{"op": "add", "path": "", "value": 1}], [{"op": "replace", "path": "", "value": DOC}]),
    "steps are undone in reverse order": (
        [{"op": "add", "path": "/x", "value": 1}, {"op": "replace", "path": "/x", "value": 2}],
        [{"op": "replace", "path": "/x", "value": 1}, {"op": "remove", "path": "/x"}]),
}


@pytest.mark.parametrize("patch, expected", INVERSES.values(), ids=INVERSES.keys())
def test_inverse_patches_undo_each_step(patch, expected):
    result, inverse = apply(copy.deepcopy(DOC), patch)
    assert inverse == expected
    assert equal(restore(result, inverse), DOC)


def test_the_inverse_of_a_move_to_an_ancestor_array_element_removes_then_adds():
    # Moving the value back would move /arr/1 into its own child, which RFC
    # 6902 forbids, so the inverse spells out both steps.
    doc = {"arr": [{"x": 1}, {"x": 2}]}
    result, inverse = apply(copy.deepcopy(doc), [{"op": "move", "from": "/arr/1/x", "path": "/arr/1"}])
    assert result == {"arr": [{"x": 1}, 2, {}]}
    assert inverse == [{"op": "remove", "path": "/arr/1"}, {"op": "add", "path": "/arr/1/x", "value": 2}]
    assert restore(result, inverse) == doc


def test_the_inverse_of_a_move_keeps_the_value_as_it_was_moved():
    # The moved value stays in the document, where a later operation changes
    # it; the inverse must still hold it as it was when it was moved.
    doc = {"a": {"v": 1}, "b": 0}
    patch = [
        {"op": "move", "from": "/a", "path": "/b"},
        {"op": "replace", "path": "/b/v", "value": 2},
    ]
    result, inverse = apply(copy.deepcopy(doc), patch)
    assert inverse[-1] == {"op": "add", "path": "/a", "value": {"v": 1}}
    assert restore(result, inverse) == doc


# equal: RFC 6902's notion of equal JSON values

@pytest.mark.parametrize("a, b", [
    (1, 1.0), (1, Decimal("1.00")), (Decimal("-0"), 0), (0.5, Decimal("0.5")),
    ({"a": 1, "b": [True]}, {"b": [True], "a": Decimal(1)}), ([], []), ({}, {}), (None, None), ("", ""),
])
def test_equal_values(a, b):
    assert equal(a, b) and equal(b, a)


@pytest.mark.parametrize("a, b", [
    (True, 1), (False, 0), (False, None), (0, None), ("", None), ("1", 1), ([], {}), ([1, 2], [2, 1]),
    ({"a": 1}, {"a": 1, "b": 1}), ({"a": None}, {"b": None}), ([None], []), (0.1, Decimal("0.1")),
    ({"a": True}, {"a": 1}), ([[0]], [[False]]),
])
def test_unequal_values(a, b):
    assert not equal(a, b) and not equal(b, a)


# Generated documents and patches

# Keys that collide often and look like indexes, escapes and "-". MISSING
# is a key that documents lack but patches may add; NEVER is in neither.
MISSING, NEVER = "\u2603", "\u2604"
# Text that JSON and jsonb accept: no lone surrogates.
CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters=MISSING + NEVER)
KEYS = st.sampled_from(["a", "b", "0", "1", "01", "-", "", "~", "/", "a/b", "~1"]) | st.text(
    CHARACTERS, max_size=3
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.decimals(min_value=-100, max_value=100, places=1)
    | st.sampled_from([0.5, 1.0, Decimal("1.00"), Decimal("-0")])
    | st.text(CHARACTERS, max_size=3)
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)
DOCUMENTS = st.sampled_from(
    [st.dictionaries(KEYS, VALUES, max_size=6)] * 3 + [st.lists(VALUES, max_size=6)] * 2 + [SCALARS]
).flatmap(lambda strategy: strategy)


def locations(doc, tokens=()):
    """Every pointer in doc, as tokens, with its value."""
    yield list(tokens), doc
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from locations(value, (*tokens, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from locations(value, (*tokens, str(i)))


def pointers(doc):
    """Pointers at and around the locations of doc: existing ones, the ends
    of arrays, bad indexes, missing members, and the insides of scalars."""
    found = [tokens for tokens, _ in locations(doc)]
    near = []
    for tokens, value in locations(doc):
        if isinstance(value, list):
            n = len(value)
            near += [tokens + [t] for t in ("-", str(n), str(n + 1), "01", "-1", "00")]
        elif isinstance(value, dict):
            near += [tokens + [MISSING], tokens + ["-"], tokens + [MISSING, "x"]]
        else:
            near += [tokens + ["0"], tokens + ["x"]]
    existing = st.sampled_from([format_pointer(t) for t in found])
    around = st.sampled_from([format_pointer(t) for t in near] or [""])
    return st.one_of(existing, existing, around)


MALFORMED = st.sampled_from([
    {"op": "bogus", "path": ""},
    {"path": "/a"},
    {"op": "add", "path": "/a"},
    {"op": "replace", "path": ""},
    {"op": "test", "path": ""},
    {"op": "move", "path": "/a"},
    {"op": "copy", "from": None, "path": "/a"},
    {"op": "add", "path": "a", "value": 1},
    {"op": "add", "path": "/~2", "value": 1},
    {"op": "remove", "path": ""},
    {"op": "move", "from": "/a", "path": "/a/b"},
    {"op": "move", "from": "", "path": "/a"},
    "add",
])


@st.composite
def operations(draw, doc, malformed_percent=0):
    # sampled_from shrinks to its first element, unlike booleans drawn from floats.
    weights = [False] * (100 - malformed_percent) + [True] * malformed_percent
    if malformed_percent and draw(st.sampled_from(weights)):
        return draw(MALFORMED)
    name = draw(st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]))
    path = draw(pointers(doc))
    op = {"op": name, "path": path}
    if name in ("move", "copy"):
        op["from"] = draw(pointers(doc))
        # Sometimes onto an ancestor of from, which displaces it (or shifts it).
        tokens = parse_pointer(op["from"])
        ancestors = [format_pointer(tokens[:i]) for i in range(len(tokens))]
        if ancestors and draw(st.booleans()):
            op["path"] = draw(st.sampled_from(ancestors))
    if name in ("add", "replace"):
        op["value"] = draw(VALUES)
    elif name == "test":
        # The value that is there, an equal one written differently, one
        # that Python holds equal but JSON does not, or any value.
        current = {format_pointer(t): v for t, v in locations(doc)}.get(path)
        variant = draw(st.sampled_from(["as is", "respelled", "confused", "any"]))
        if variant == "any":
            op["value"] = draw(VALUES)
        else:
            op["value"] = {"as is": current, "respelled": respell(current),
                           "confused": confuse(current)}[variant]
    return op


def respell(value):
    """An equal value written differently: numbers as other types."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(value).quantize(Decimal("0.01")) if abs(value) < 10**6 else value
    if isinstance(value, dict):
        return {k: respell(v) for k, v in reversed(value.items())}
    return [respell(v) for v in value]


@st.composite
def patches(draw, doc, malformed_percent=0, only_valid=False):
    """A patch for doc, each operation drawn against the document as the
    operations before it left it (as jsonpatch applies them)."""
    current = copy.deepcopy(doc)
    patch = []
    for _ in range(draw(st.integers(1, 6))):
        op = draw(operations(current, malformed_percent))
        try:
            current = jsonpatch.apply_patch(current, [op])
        except REFERENCE_ERRORS:
            if only_valid:
                continue
        patch.append(op)
    assume(patch)
    return patch


def confuse(value):
    """A value that Python, but not JSON, holds equal: booleans as numbers."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, Decimal)) and value in (0, 1):
        return bool(value)
    if isinstance(value, dict):
        return {k: confuse(v) for k, v in value.items()}
    if isinstance(value, list):
        return [confuse(v) for v in value]
    return value


def restore(result, inverse):
    """Apply an inverse as the database would: to a fresh copy, through jsonb."""
    if not inverse:
        return result
    restored, _ = apply(copy.deepcopy(result), copy.deepcopy(inverse), max_operations=len(inverse))
    return restored


def containers(value, seen=None):
    """The ids of every dict and list in value."""
    seen = [] if seen is None else seen
    if isinstance(value, dict):
        seen.append(id(value))
        for item in value.values():
            containers(item, seen)
    elif isinstance(value, list):
        seen.append(id(value))
        for item in value:
            containers(item, seen)
    return seen


PROPERTY_SETTINGS = settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


@PROPERTY_SETTINGS
@given(VALUES, st.data())
def test_equal_agrees_with_the_reference_test_operation_and_the_canonical_form(value, data):
    variant = data.draw(st.sampled_from([respell, confuse, None]))
    other = variant(value) if variant else data.draw(VALUES)
    try:
        jsonpatch.apply_patch(value, [{"op": "test", "path": "", "value": other}])
        reference = True
    except jsonpatch.JsonPatchTestFailed:
        reference = False
    assert equal(value, other) == equal(other, value) == reference
    # The generated numbers are all exact as doubles, so JSON equality is
    # equality of the RFC 8785 forms.
    assert equal(value, other) == (canonical_json(value) == canonical_json(other))


@PROPERTY_SETTINGS
@given(st.data())
def test_results_and_failures_agree_with_the_jsonpatch_library(data):
    doc = data.draw(DOCUMENTS)
    patch = data.draw(patches(doc, malformed_percent=4))
    try:
        expected = jsonpatch.apply_patch(doc, patch)
    except REFERENCE_ERRORS:
        with pytest.raises(PatchError):
            apply(copy.deepcopy(doc), patch)
    else:
        result, _ = apply(copy.deepcopy(doc), patch)
        assert equal(result, expected)
        assert content_hash(result) == content_hash(expected)


@PROPERTY_SETTINGS
@given(st.data())
def test_the_inverse_restores_the_original_exactly(data):
    doc = data.draw(DOCUMENTS)
    patch = data.draw(patches(doc, only_valid=True))
    original = copy.deepcopy(doc)
    result, inverse = apply(doc, patch)
    # The inverse is a plain RFC 6902 patch: jsonpatch undoes it too.
    assert equal(jsonpatch.apply_patch(result, inverse) if inverse else result, original)
    restored = restore(result, inverse)
    assert equal(restored, original)
    assert content_hash(restored) == content_hash(original)
    # And the inverse of the inverse redoes the patch.
    if inverse:
        _, redo = apply(copy.deepcopy(result), copy.deepcopy(inverse), max_operations=len(inverse))
        assert equal(restore(original, redo), result)


@PROPERTY_SETTINGS
@given(st.data())
def test_results_share_no_object_with_the_patch_or_the_inverse(data):
    doc = data.draw(DOCUMENTS)
    patch = data.draw(patches(doc, only_valid=True))
    patch_before = copy.deepcopy(patch)
    result, inverse = apply(copy.deepcopy(doc), patch)
    in_result = containers(result)
    assert len(in_result) == len(set(in_result)), "a value appears twice in the result"
    assert not set(in_result) & set(containers(patch))
    assert not set(in_result) & set(containers(inverse))
    assert patch == patch_before


FAILING = st.sampled_from([
    lambda tokens: {"op": "remove", "path": format_pointer([*tokens, NEVER])},
    lambda tokens: {"op": "replace", "path": format_pointer([*tokens, NEVER, "x"]), "value": 1},
    lambda tokens: {"op": "add", "path": format_pointer([*tokens, NEVER, "x"]), "value": 1},
    lambda tokens: {"op": "test", "path": format_pointer(tokens), "value": {NEVER: 1}},
    lambda tokens: {"op": "move", "from": format_pointer([*tokens, NEVER]), "path": "/x"},
])


@PROPERTY_SETTINGS
@given(st.data())
def test_a_failing_patch_raises_patch_error_naming_the_first_failing_operation(data):
    doc = data.draw(DOCUMENTS)
    prefix = data.draw(patches(doc, only_valid=True))
    state = jsonpatch.apply_patch(doc, prefix)
    tokens = data.draw(st.sampled_from([t for t, _ in locations(state)]))
    bad = data.draw(FAILING | MALFORMED.map(lambda op: lambda tokens: op))(tokens)
    suffix = data.draw(patches(doc, malformed_percent=10))
    patch = prefix + [bad] + suffix
    doc_hash, patch_before = content_hash(doc), copy.deepcopy(patch)

    working = copy.deepcopy(doc)  # what a caller who needs atomicity does
    with pytest.raises(PatchError) as caught:
        apply(working, patch)
    error = caught.value
    assert content_hash(doc) == doc_hash
    assert patch == patch_before
    assert error.kind in KINDS
    if error.kind == "malformed_patch":
        # Found before anything is applied: the operation is malformed alone.
        alone = failure(doc, [patch[error.index]])
        assert (alone.kind, alone.index, alone.pointer) == ("malformed_patch", 0, error.pointer)
    else:
        # The operations before it apply, and it fails right after them.
        assert error.index <= len(prefix)
        if error.index:
            apply(copy.deepcopy(doc), patch[: error.index])
        again = failure(doc, patch[: error.index + 1])
        assert (again.kind, again.index, again.pointer) == (error.kind, error.index, error.pointer)
