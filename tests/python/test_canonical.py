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
