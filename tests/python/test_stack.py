"""The stack that make deps installs is really there: the server runs the
chosen PL/Python with jsonschema (v0.1.0's engine), jsonschema-rs and orjson,
and pgvector works."""

from pathlib import Path

TOP = Path(__file__).resolve().parents[2]


def test_pgvector_is_installed_and_works(conn):
    # The change embeddings creates it in a schema of its own.
    (schema,) = conn.execute(
        "select extnamespace::regnamespace::text from pg_extension where extname = 'vector'"
    ).fetchone()
    assert schema == "pgvector"
    distance = conn.execute(
        "select '[1, 2, 2]'::pgvector.vector operator(pgvector.<->) '[1, 2, 0]'::pgvector.vector"
    ).fetchone()[0]
    assert distance == 2.0


def test_plpython_sees_jsonschema_with_draft_2020_12(conn):
    conn.execute(
        "create function pg_temp.validator() returns text language plpython3u as $$"
        " import jsonschema; return jsonschema.Draft202012Validator.__name__ $$"
    )
    assert conn.execute("select pg_temp.validator()").fetchone()[0] == "Draft202012Validator"


def test_plpython_imports_the_pinned_wheels(conn):
    # scripts/install-deps installs them for the server's Python, at the versions requirements.txt pins.
    pins = dict(
        line.split("==") for line in (TOP / "requirements.txt").read_text().splitlines()
        if line.startswith(("jsonschema-rs==", "orjson=="))
    )
    conn.execute(
        "create function pg_temp.wheels() returns text[] language plpython3u as $$\n"
        "import importlib.metadata, jsonschema_rs, orjson\n"
        "return [importlib.metadata.version(n) for n in ('jsonschema-rs', 'orjson')] $$"
    )
    assert conn.execute("select pg_temp.wheels()").fetchone()[0] == [pins["jsonschema-rs"], pins["orjson"]]
