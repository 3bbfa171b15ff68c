"""JSON Schema draft 2020-12 conformance of pg_jsonschema's SQL API, in the
real database: json_matches_schema() and jsonschema_validation_errors().

The judge is the official JSON Schema Test Suite (its required tests, not
optional/), which scripts/install-deps fetches into .cache/conformance from
python-jsonschema's sdist (sha256-checked). Our own cases, written from the
2020-12 specification for every keyword category, are in
tests/data/jsonschema-2020-12-cases.json and also pin the messages.

The suite's remote references name http://localhost:1234/..., which the
database refuses to fetch: there the SQL functions must refuse clearly
(22023), and the engine with the suite's remotes supplied must answer
right."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema_rs
import psycopg
import pytest

from conftest import server_conninfo

TOP = Path(__file__).resolve().parents[2]
SUITE = TOP / ".cache/conformance/JSON-Schema-Test-Suite"
TESTS = SUITE / "tests/draft2020-12"
OWN = TOP / "tests/data/jsonschema-2020-12-cases.json"
REMOTE = "http://localhost:1234/"


def cases(files):
    return [
        pytest.param(group["schema"], test, id=f"{path.stem}:{g}.{t}: {group['description']} / {test['description']}")
        for path in files
        for g, group in enumerate(json.loads(path.read_text()))
        for t, test in enumerate(group["tests"])
    ]


def suite_files():
    # Collected even when missing, so that the run fails instead of finding nothing.
    return sorted(TESTS.glob("*.json")) or [TESTS / "MISSING.json"]


@pytest.fixture(scope="module")
def db(dbname):
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as conn:
        yield conn


def through_sql(db, schema, data):
    """(json_matches_schema, jsonschema_validation_errors) of one instance."""
    return db.execute(
        "select public.json_matches_schema(%(s)s::json, %(i)s::json),"
        " public.jsonschema_validation_errors(%(s)s::json, %(i)s::json)",
        {"s": json.dumps(schema), "i": json.dumps(data)},
    ).fetchone()


def remotes():
    """The suite's remote schemas as the registry the tests name them by
    (the draft 2020-12 ones and those of no draft)."""
    root = SUITE / "remotes"
    return jsonschema_rs.Registry([
        (REMOTE + path.relative_to(root).as_posix(), json.loads(path.read_text()))
        for path in sorted(root.rglob("*.json"))
        if not any(p.startswith("draft") and p != "draft2020-12" for p in path.relative_to(root).parts[:-1])
    ])


def test_the_suite_is_there():
    assert TESTS.is_dir(), f"{TESTS} is missing: run scripts/install-deps"
    assert len(list(TESTS.glob("*.json"))) >= 40


@pytest.mark.parametrize(("schema", "test"), cases(suite_files()))
def test_json_schema_test_suite(db, schema, test):
    try:
        matches, errors = through_sql(db, schema, test["data"])
    except psycopg.errors.InvalidParameterValue as refused:
        # Only a remote the database will not fetch may stop it.
        assert refused.diag.message_primary == "invalid JSON Schema"
        assert REMOTE in refused.diag.message_detail
        validator = jsonschema_rs.validator_for(schema, registry=remotes(), retriever=refuse_all)
        assert validator.is_valid(test["data"]) is test["valid"]
        return
    assert matches is test["valid"], errors
    assert (errors == []) is test["valid"]


@pytest.mark.parametrize(("schema", "test"), cases([OWN]))
def test_own_cases_from_the_2020_12_spec(db, schema, test):
    matches, errors = through_sql(db, schema, test["data"])
    assert matches is test["valid"], errors
    if "errors" in test:
        assert errors == test["errors"]


def refuse_all(uri):
    raise LookupError(f"{uri} is not in the suite's remotes")


def test_a_remote_reference_is_refused_without_fetching(db):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
        through_sql(db, {"$ref": "https://json-schema.org/draft/2019-09/schema#nope-remote"}, 1)
    assert "is not fetched" in refused.value.diag.message_detail or "not present" in refused.value.diag.message_detail


def test_deep_nesting_is_a_clean_error_not_a_crash(db):
    deep = "[" * 14_000 + "]" * 14_000
    for call in ("json_matches_schema('{}', %(v)s::json)", "jsonb_matches_schema('{}', %(v)s::jsonb)",
                 "jsonschema_validation_errors('{\"items\": {\"$ref\": \"#\"}}', %(v)s::json)",
                 "jsonschema_is_valid(%(v)s::json)"):
        with pytest.raises(psycopg.errors.DatabaseError) as error:
            db.execute(f"select public.{call}", {"v": deep})
        assert error.value.sqlstate == "ODL02", (call, error.value)  # the limit nesting_depth
    assert db.execute("select 1").fetchone() == (1,)  # the server is still up
    nested = "[" * 128 + "]" * 128  # the default limit nesting_depth
    assert through_sql(db, {"items": {"$ref": "#"}}, json.loads(nested)) == (True, [])


def test_a_catastrophic_pattern_returns_at_once(db):
    start = time.perf_counter()
    matches, _ = through_sql(db, {"pattern": "^(a+)+$"}, "a" * 29 + "!")
    assert matches is False and time.perf_counter() - start < 1


def test_a_dynamic_ref_to_a_boolean_schema_is_no_python_error(db):
    schema = {"$defs": {"b": True}, "$dynamicRef": "#/$defs/b"}
    assert through_sql(db, schema, 1) == (True, [])
