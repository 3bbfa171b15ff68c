"""The demo's domain stories (demo/domain.py) run twice on one database, as
`make demo` runs them twice on one cluster, and leave the state their scenes
claim: each PSU movement once, the refused charge and its grant rolled
back, the CAG entry invalidated by the patch of its pointer, every AI
context within its budget."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg
import pytest

from conftest import TOP, create_database, drop_database, server_conninfo, sqitch


@pytest.fixture(scope="module")
def demo_db():
    name = create_database("odl_demo_domain")
    try:
        result = sqitch("deploy", name)
        assert result.returncode == 0, result.stdout + result.stderr
        yield name
    finally:
        drop_database(name)


def story(dbname: str, name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(TOP / "demo" / "app.py"), name], cwd=TOP, capture_output=True, text=True,
        env=dict(os.environ, PGDATABASE=dbname, PGUSER="postgres"), timeout=120,
    )
    assert result.returncode == 0, f"app.py {name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def runs(demo_db):
    story(demo_db, "load")
    story(demo_db, "spec")
    return [{name: story(demo_db, name) for name in ("graph", "ai", "monetisation", "search")} for _ in range(2)]


def test_graph_answers_cite_pointers_of_the_document(runs, demo_db):
    with psycopg.connect(server_conninfo(dbname=demo_db)) as db:
        (document,) = db.execute(
            "select doc_json from odl.odl_documents where doc_json -> 'hierarchy' ? 'type'").fetchone()
    for run in runs:
        cited = set(re.findall(r"/(?:connections|instances)/\d+", run["graph"]))
        assert len(cited) > 20
        for pointer in cited:
            section, index = pointer.strip("/").split("/")
            assert int(index) < len(document[section]), pointer
        assert "2     | 42    | {hx550_bifacial_module}" in run["graph"]
    assert runs[0]["graph"] == runs[1]["graph"]


def test_every_context_holds_its_budget_and_the_cag_entry_is_invalidated(runs, demo_db):
    for run in runs:
        budgets = re.findall(r"(\d+) tokens sent, budget (\d+): (\w+)", run["ai"])
        assert len(budgets) == 2 and all(int(sent) <= int(budget) and word == "holds" for sent, budget, word in budgets)
        assert "AiError ODI05" in run["ai"]
        lookups = re.findall(r"^ (true|false) +\|.*\| *(\w*) *$", run["ai"], re.M)
        assert lookups == [("true", ""), ("false", "invalidated")]
    with psycopg.connect(server_conninfo(dbname=demo_db)) as db:
        assert db.execute(
            "select count(*), count(invalidated_at) from odl.cag_entries").fetchone() == (1, 1)
        assert db.execute("select count(*) from odl.ai_sessions").fetchone() == (2,)


def test_each_psu_movement_is_written_once_and_the_refused_charge_leaves_nothing(runs, demo_db):
    for run in runs:
        assert "MonetisationError ODM01" in run["monetisation"]
        assert re.search(r"\| charge \| 5 +\| \d+ +\| true", run["monetisation"])
    with psycopg.connect(server_conninfo(dbname=demo_db)) as db:
        # Per run: a 5 PSU charge (its retry replayed), 6 of 8 reserved consumed, a 2 PSU span; the
        # grant before the refused charge rolled back (summed over periods: a run may cross a month).
        assert db.execute(
            "select sum(consumed), sum(reserved), bool_and(granted = 300), bool_and(user_id is null)"
            " from odl.psu_budgets"
        ).fetchone() == (26, 0, True, True)
        assert db.execute(
            "select kind, count(*), sum(consumed_delta), sum(reserved_delta) from odl.psu_ledger"
            " group by kind order by kind").fetchall() == [
            ("charge", 4, 14, 0), ("consume", 2, 12, -16), ("reserve", 2, 0, 16)]
        assert db.execute("select count(*), count(odl_psu_entry_id) from odl.tool_call_traces").fetchone() == (4, 2)


def test_search_embeds_once_then_answers_with_pointers_and_walks_from_an_instance(runs):
    first, second = runs[0]["search"], runs[1]["search"]
    stored = [int(re.search(r"(\d+) vectors stored this run", run).group(1)) for run in (first, second)]
    # The second run embeds only what the other stories' patches changed since (the AI scene's one instance).
    assert stored[0] > 100 and 0 < stored[1] <= 5, stored
    for run in (first, second):
        assert re.search(r"\| /instances/\d+ +\| 0\.\d+", run)
        assert "the graph around it: its neighbours" in run and "what feeds" in run
