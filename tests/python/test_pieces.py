"""A document held as pieces (odl_db.pieces) gives, after any patch, the
same texts as writing the patched document from scratch: the RFC 8785
canonical text, and storage text that spells every number as it was
written. Without a database."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st

from odl_db import canonical, jsonpatch, pieces

SPELLINGS = st.sampled_from(["2.50", "2.5", "0.00005", "5E-5", "1E+2", "100.0", "-0", "12345678901234567890", "1e400"])
NUMBERS = SPELLINGS.map(Decimal) | st.integers(-(10**6), 10**6).map(Decimal)
KEYS = st.text(alphabet=st.sampled_from(["a", "b", "é", "/", "~", "\U0001f600", "\u20ac"]), max_size=3)
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=5)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=40) | st.dictionaries(KEYS, inner, max_size=12),
    max_leaves=150,
)


def spelled(text: str):
    """A JSON text's value with each number kept as its spelling."""
    return json.loads(text, parse_float=lambda s: ("number", s), parse_int=lambda s: ("number", s))


def paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*path, index))


@st.composite
def documents_and_patches(draw):
    doc = draw(st.dictionaries(KEYS, VALUES, min_size=1, max_size=8))
    patch = []
    for _ in range(draw(st.integers(1, 6))):
        places = list(paths(doc))[1:]
        if not places:
            break
        where = jsonpatch.format_pointer(draw(st.sampled_from(places)))
        kind = draw(st.sampled_from(["replace", "remove", "add", "move", "copy"]))
        if kind in ("replace", "add"):
            patch.append({"op": kind, "path": where, "value": draw(VALUES)})
        elif kind == "remove":
            patch.append({"op": "remove", "path": where})
        else:
            target = jsonpatch.format_pointer(draw(st.sampled_from(places))[:-1]) + "/copied"
            patch.append({"op": kind, "from": where, "path": target})
    return doc, patch


def texts_from_scratch(value):
    try:
        exact = canonical.canonical_json(value)
    except ValueError:
        exact = None
    return exact, spelled(pieces.storage_text(value))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents_and_patches(), st.sampled_from([8, 64, pieces.SPLIT_CHARS]))
def test_pieces_after_a_patch_give_the_texts_of_the_patched_document(monkeypatch, case, split_chars):
    # Small pieces, so that these small documents split as large ones do.
    monkeypatch.setattr(pieces, "SPLIT_CHARS", split_chars)
    doc, patch = case
    try:
        _, piece = pieces.from_text(pieces.storage_text(doc))
    except ValueError:
        return  # a number beyond a double: no canonical text to compare (22003 in the API)
    tree = piece.node
    try:
        new, _ = jsonpatch.apply(tree, patch, copy_on_write=True)
    except jsonpatch.PatchError:
        return
    expected_canonical, expected_storage = texts_from_scratch(new)
    try:
        canonical_text, storage = pieces.join(pieces.build(new, piece))
    except ValueError:
        assert expected_canonical is None
        return
    assert canonical_text == expected_canonical
    assert spelled(storage) == expected_storage


def test_a_spelling_without_a_float_equal_is_written_exactly():
    value = {"a": Decimal("2.50"), "b": [Decimal("100.0"), Decimal("5E-5")], "c": Decimal("0.00005")}
    assert pieces.storage_text(value) == '{"a":2.50,"b":[100.0,0.00005],"c":0.00005}'
    assert pieces.join(pieces.build(value))[0] == '{"a":2.5,"b":[100,0.00005],"c":0.00005}'
