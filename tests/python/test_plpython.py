"""The database runs exactly the modules in plpython/, and a session that
already loaded a module picks up a newly installed version."""

from pathlib import Path

import srcguard
from conftest import TOP
from odl_db import canonical

LOADED_HASH = """
create function pg_temp.loaded_sha256(module text) returns text
language plpython3u as $$
import importlib
plpy.execute("select odl.python_boot()")
return importlib.import_module(module).__odl_sha256__
$$
"""


def test_deployed_sources_equal_the_files(conn):
    assert srcguard.deployed_differences(conn) == []


def test_a_changed_function_body_is_reported(conn):
    conn.execute(
        "create or replace function odl.odl_current_user_id() returns text"
        " language sql as $$ select 'someone' $$"
    )
    assert srcguard.deployed_differences(conn) == [
        "odl.odl_current_user_id differs from sql/015_context/context.sql"
    ]


def test_the_server_runs_the_file_it_was_given(conn):
    conn.execute(LOADED_HASH)
    file_hash = srcguard.sha256(TOP / "plpython/odl_db/canonical.py")
    assert conn.execute("select pg_temp.loaded_sha256('odl_db.canonical')").fetchone()[0] == file_hash


def test_installing_a_module_reloads_it_in_other_sessions(connect):
    reader = connect(autocommit=True)
    writer = connect(autocommit=True)
    reader.execute(LOADED_HASH)
    original = (TOP / "plpython/odl_db/canonical.py").read_text()
    # odl_canonical_json writes through text_canonical (the hash is taken in SQL).
    changed = original.replace("        return decimal_canonical_json(value)\n", "        return decimal_canonical_json(value).upper()\n")
    assert changed != original

    before = reader.execute("select odl.odl_canonical_json('[\"a\"]')").fetchone()[0]
    try:
        writer.execute("call odl.python_install('odl_db.canonical', %s)", (changed,))
        after = reader.execute("select odl.odl_canonical_json('[\"a\"]')").fetchone()[0]
        assert after == before.upper() != before
    finally:
        writer.execute("call odl.python_install('odl_db.canonical', %s)", (original,))
    assert reader.execute("select odl.odl_canonical_json('[\"a\"]')").fetchone()[0] == before


def test_pure_module_and_database_agree(conn):
    doc = {"b": [1.0, 2.5, "\u00e9\n"], "a": {"z": None, "y": True}, "\U0001f600": 1e-7}
    db_hash = conn.execute("select odl.odl_content_hash(%s::jsonb)", (canonical.canonical_json(doc),)).fetchone()[0]
    assert db_hash == canonical.content_hash(doc)
