"""The stack that make deps installs is really there: the server runs the
chosen PL/Python with jsonschema, and pgvector works."""


def test_pgvector_is_installed_and_works(conn):
    conn.execute("create extension vector")
    distance = conn.execute("select '[1, 2, 2]'::vector <-> '[1, 2, 0]'::vector").fetchone()[0]
    assert distance == 2.0


def test_plpython_sees_jsonschema_with_draft_2020_12(conn):
    conn.execute(
        "create function pg_temp.validator() returns text language plpython3u as $$"
        " import jsonschema; return jsonschema.Draft202012Validator.__name__ $$"
    )
    assert conn.execute("select pg_temp.validator()").fetchone()[0] == "Draft202012Validator"
