"""RFC 8785 canonical JSON and content hashes, checked against rfc8785, an
independent implementation, and between Python and the database."""

import hashlib
import json
from decimal import Decimal

import pytest

import psycopg
import rfc8785
from hypothesis import given, settings, strategies as st
from psycopg.types.json import Jsonb

from conftest import server_conninfo
from odl_db import canonical

# rfc8785 refuses integers beyond 2**53 instead of reading them as doubles.
numbers = st.one_of(
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda f: not (f.is_integer() and abs(f) >= 2**53)
    ),
)
# Text that JSON, UTF-8 and jsonb all accept: no lone surrogates, no NUL.
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500)
@given(json_values)
def test_canonical_form_matches_rfc8785_library(value):
    assert canonical.canonical_json(value) == rfc8785.dumps(value).decode("utf-8")


@given(json_values)
def test_content_hash_is_sha256_of_the_canonical_utf8(value):
    expected = hashlib.sha256(rfc8785.dumps(value)).hexdigest()
    assert canonical.content_hash(value) == "sha256:" + expected


def test_big_integers_are_read_as_doubles_like_javascript():
    assert canonical.canonical_json(2**53 + 1) == "9007199254740992"
    assert canonical.canonical_json(10**21) == "1e+21"
    # RFC 8785, appendix B: whole doubles above 2**53 print their shortest digits.
    assert canonical.canonical_json(295147905179352830000) == "295147905179352830000"
    assert canonical.canonical_json(Decimal("999999999999999700000")) == "999999999999999700000"


def test_numbers_beyond_doubles_are_refused():
    with pytest.raises(ValueError, match="out of range for RFC 8785"):
        canonical.canonical_json([Decimal("1e400")])


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_database_hash_equals_python_hash(dbname, value):
    # jsonb keeps one of duplicate keys and exact decimals; compare on what it stored.
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        stored, db_text, db_hash = conn.execute(
            "select d::text, odl.odl_canonical_json(d), odl.odl_content_hash(d)"
            " from (select %s::jsonb as d) as s",
            (Jsonb(value),),
        ).fetchone()
    parsed = json.loads(stored)
    assert db_text == canonical.canonical_json(parsed)
    assert db_hash == canonical.content_hash(parsed)


# Numbers as the jsonb transform delivers them: Decimal, spelled as numeric
# prints them (no exponent).
jsonb_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(Decimal),
    st.decimals(allow_nan=False, allow_infinity=False)
    .filter(lambda d: abs(d) < Decimal("1e300"))
    .map(lambda d: Decimal(format(d, "f"))),
)
jsonb_values = st.recursive(
    st.none() | st.booleans() | jsonb_numbers | texts,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500)
@given(jsonb_values)
def test_decimal_fast_path_writes_the_same_canonical_form(value):
    assert canonical.decimal_canonical_json(value) == canonical.canonical_json(value)


@settings(max_examples=500)
@given(jsonb_values)
def test_jsonb_text_spells_every_number_exactly_or_declines(value):
    text = canonical.jsonb_text(value)
    if text is not None:
        assert json.loads(text, parse_float=Decimal, parse_int=Decimal) == value
        assert all(str(n) in text for n in _numbers(value))


def test_jsonb_text_declines_numbers_a_double_cannot_spell():
    assert canonical.jsonb_text([Decimal("0.1000000000000000055511151231257827")]) is None
    assert canonical.jsonb_text({"a": Decimal("1.0"), "b": Decimal("5")}) == '{"a":1.0,"b":5}'


def _numbers(value):
    if isinstance(value, Decimal):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
