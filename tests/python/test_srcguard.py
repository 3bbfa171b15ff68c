"""The source mechanism: an edited source of a released change is caught,
and a reworked change reverts to the definitions of its release."""

import os
import shutil
import subprocess

import psycopg
import pytest

import srcguard
from conftest import TOP, create_database, drop_database, server_conninfo

ULID_SOURCE = "sql/010_ulid/odl_ulid.sql"


def test_the_tree_passes_its_own_check():
    assert srcguard.check() == []


@pytest.fixture
def project(tmp_path):
    """A copy of the project to tag and rework."""
    copy = tmp_path / "odl-db"
    shutil.copytree(
        TOP, copy,
        ignore=shutil.ignore_patterns(".git", ".venv", ".pgdata", "__pycache__", ".hypothesis", ".pytest_cache"),
    )
    return copy


def test_an_unincluded_source_is_caught(project):
    (project / "sql/010_ulid/stray.sql").write_text("select 1;\n")
    assert srcguard.check(project) == ["sql/010_ulid/stray.sql is not included by any deploy script"]


def test_a_table_in_a_code_change_is_caught(project):
    script = project / "deploy/ulid.sql"
    script.write_text(script.read_text().replace("commit;", "create table odl.t (x int);\ncommit;"))
    assert len(srcguard.check(project)) == 1
    assert "holds nothing else" in srcguard.check(project)[0]


def test_editing_a_released_source_is_caught(project):
    srcguard.tag("v0.0.1", "test release", project)
    assert srcguard.check(project) == []
    source = project / ULID_SOURCE
    source.write_text(source.read_text() + "\n-- edited after the release\n")
    assert srcguard.check(project) == [
        f"{ULID_SOURCE} changed, but change ulid was released in @v0.0.1: "
        "run tools/srcguard rework ulid before editing it"
    ]


def prosrc(dbname: str, function: str) -> str:
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        return conn.execute(
            "select prosrc from pg_proc where oid = %s::regprocedure", (function,)
        ).fetchone()[0]


def run_sqitch(project, *args, dbname):
    result = subprocess.run(
        ["sqitch", *args, "db:pg:"], cwd=project, capture_output=True, text=True,
        env={**os.environ, "PGDATABASE": dbname},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_reworked_change_reverts_to_its_release(project):
    # sqitch names the frozen script after a release since the change (the
    # first tag of the plan's last tagged change), which ships the same
    # sources as every release since the change.
    srcguard.tag("v9.9.9", "test release", project)
    released = (project / "deploy/ulid.sql").read_text()
    srcguard.rework("ulid", "decode ULID time multiplying from the left", project)
    (frozen,) = (project / "deploy").glob("ulid@*.sql")
    tag = frozen.stem.split("@", 1)[1]
    assert tag in srcguard.read_plan(project).tags
    # Upgrading a database that ran the released script needs a new one.
    assert (project / "deploy/ulid.sql").read_text() != released

    source = project / ULID_SOURCE
    old_text = source.read_text()
    new_text = old_text.replace("ms := ms * 32 +", "ms := 32 * ms +")
    assert new_text != old_text
    source.write_text(new_text)
    assert srcguard.check(project) == []

    name = create_database("odl_rework")
    try:
        run_sqitch(project, "deploy", "--verify", dbname=name)
        assert "ms := 32 * ms +" in prosrc(name, "odl.odl_ulid_time(text)")

        run_sqitch(project, "revert", "-y", "--to", f"@{tag}", dbname=name)
        restored = prosrc(name, "odl.odl_ulid_time(text)")
        assert "ms := ms * 32 +" in restored and "32 * ms" not in restored

        run_sqitch(project, "deploy", dbname=name)
        assert "ms := 32 * ms +" in prosrc(name, "odl.odl_ulid_time(text)")
        with psycopg.connect(server_conninfo(dbname=name)) as conn:
            assert srcguard.deployed_differences(conn, project) == []
    finally:
        drop_database(name)
