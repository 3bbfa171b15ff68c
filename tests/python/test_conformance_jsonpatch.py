"""RFC 6902 conformance of the pure patch engine, odl_jsonpatch_apply(), in
the real database, and of odl_db.jsonpatch without one.

The judge is json-patch-tests (Mike McCabe's tests.json and
spec_tests.json), which scripts/install-deps fetches into
.cache/conformance from the npm package json-patch-test-suite
(sha256-checked). Our own cases, from RFC 6902's text and appendix A, are
in tests/data/jsonpatch-rfc6902-cases.json.

A case with "error" must fail with one of ODP01-ODP04; where our cases
name the kind, that kind. The suite's one disabled case that we cannot
meet, "duplicate ops", is an object with two "op" members: jsonb (and
Python's json) keep the last member, so the duplicate cannot be seen; it
is checked to do what the last member says."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from conftest import server_conninfo
from odl_db import jsonpatch
from odl_db.documents import PATCH_SQLSTATES

TOP = Path(__file__).resolve().parents[2]
SUITE = TOP / ".cache/conformance/json-patch-tests"
OWN = TOP / "tests/data/jsonpatch-rfc6902-cases.json"
DUPLICATE_OPS = "duplicate ops"


def cases(*paths):
    found = []
    for path in paths:
        # Read even when missing, so that the run fails instead of finding nothing.
        for i, case in enumerate(json.loads(path.read_text(), parse_float=Decimal)):
            found.append(pytest.param(case, id=f"{path.stem}:{i}: {case.get('comment', '')}"))
    return found


ALL = cases(SUITE / "tests.json", SUITE / "spec_tests.json", OWN)


@pytest.fixture(scope="module")
def db(dbname):
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as conn:
        yield conn


def through_sql(db, doc, patch):
    return db.execute(
        "select odl.odl_jsonpatch_apply(%s::jsonb, %s::jsonb)", (dumps(doc), dumps(patch))
    ).fetchone()[0]


def dumps(value):
    return json.dumps(value, default=lambda d: float(d) if d != d.to_integral_value() else int(d))


@pytest.mark.parametrize("case", ALL)
def test_odl_jsonpatch_apply(db, case):
    if case.get("comment") == DUPLICATE_OPS:
        assert case["patch"][0]["op"] == "move"  # the last "op" member
        assert through_sql(db, case["doc"], case["patch"]) == {"baz": "bar"}
        return
    if "error" in case:
        with pytest.raises(psycopg.errors.DatabaseError) as failed:
            through_sql(db, case["doc"], case["patch"])
        kind = case["error"]
        expected = {PATCH_SQLSTATES[kind]} if kind in PATCH_SQLSTATES else set(PATCH_SQLSTATES.values())
        assert failed.value.sqlstate in expected, failed.value
        return
    result = through_sql(db, case["doc"], case["patch"])
    expected = case.get("expected", case["doc"])
    assert jsonpatch.equal(json.loads(json.dumps(result), parse_float=Decimal), expected)


@pytest.mark.parametrize("case", ALL)
def test_the_engine_and_its_inverse(case):
    doc = copy.deepcopy(case["doc"])
    if case.get("comment") == DUPLICATE_OPS:
        assert jsonpatch.apply(doc, case["patch"], max_operations=100)[0] == {"baz": "bar"}
        return
    if "error" in case:
        with pytest.raises(jsonpatch.PatchError) as failed:
            jsonpatch.apply(doc, case["patch"], max_operations=100)
        if case["error"] in jsonpatch.KINDS:
            assert failed.value.kind == case["error"]
        return
    result, inverse = jsonpatch.apply(doc, case["patch"], max_operations=100)
    assert jsonpatch.equal(result, case.get("expected", case["doc"]))
    restored, _ = jsonpatch.apply(result, inverse, max_operations=200)
    assert jsonpatch.equal(restored, case["doc"])


def test_an_empty_patch_returns_the_document_unchanged(db):
    assert through_sql(db, {"a": [1, 2.50]}, []) == {"a": [1, 2.50]}
    assert db.execute("select odl.odl_jsonpatch_inverse('{\"a\": 1}', '[]')").fetchone()[0] == []
    assert jsonpatch.apply({"a": 1}, [], max_operations=100) == ({"a": 1}, [])
