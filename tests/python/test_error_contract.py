"""The error contract: every failure a caller can cause has a documented
SQLSTATE and a one-line message without Python internals.

The test asks the catalog for every function an API role (odl_app,
odl_admin, odl_analyst) may execute, and calls each one, as that role, with
sensible arguments except one: NULL, then values of the right type but the
wrong kind (an unknown id, an empty string, a JSON string where an object
belongs, a negative version, ...). Each call must either succeed or fail
with a SQLSTATE the README documents, and the server must stay up."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from conftest import TOP, TenantAccess, server_conninfo

sys.path.insert(0, str(TOP))
from fixtures import odlsd  # noqa: E402

API_ROLES = ("odl_app", "odl_admin", "odl_analyst")
PG_JSONSCHEMA_API = ("json_matches_schema", "jsonb_matches_schema", "jsonschema_is_valid", "jsonschema_validation_errors")
PYTHON_INTERNALS = re.compile(r"Traceback|plpy\.|spiexceptions|PL/Python|File \"|Error:|line \d+, in ")

SMALL_DOC = odlsd.generate(10_000, seed=7)
# A traceback of a deep recursion ran to 61 KB of CONTEXT on v0.1.0.
MAX_CONTEXT = 4096
PATCH = [{"op": "add", "path": "/meta/note", "value": "x"}]


def documented_sqlstates() -> set[str]:
    """Every SQLSTATE in a table of the README's section "SQLSTATEs"."""
    readme = (TOP / "README.md").read_text()
    section = readme.split("\n## SQLSTATEs\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| ([0-9A-Z]{5}) \|", section, flags=re.M))


@dataclass(frozen=True)
class Function:
    signature: str
    name: str
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]
    roles: tuple[str, ...]

    def __str__(self) -> str:
        return self.signature


def callable_functions(conn: psycopg.Connection) -> list[Function]:
    rows = conn.execute(
        """
        select p.oid::regprocedure::text, p.proname, coalesce(p.proargnames, '{}'),
               array(select format_type(t, null) from unnest(p.proargtypes) as t),
               array(select r from unnest(%s::text[]) as r where has_function_privilege(r, p.oid, 'execute'))
        from pg_catalog.pg_proc as p
        where (p.pronamespace = 'odl'::regnamespace or p.proname = any(%s))
          and p.prokind = 'f'
        order by 1
        """,
        (list(API_ROLES), list(PG_JSONSCHEMA_API)),
    ).fetchall()
    functions = []
    for signature, name, names, types, roles in rows:
        if not roles:
            continue
        in_names = tuple(names[: len(types)]) if names else tuple(f"arg{i}" for i in range(len(types)))
        functions.append(Function(signature, name, in_names, tuple(types), tuple(roles)))
    return functions


class World:
    """One committed tenant with an administrator, a node, a project, a
    document and a change request: the good values for every argument."""

    def __init__(self, dbname: str, access: TenantAccess):
        self.access = access
        self.tenant_id = access.tenant_id
        self.user_id = access.admin_id
        self.node_id = access.node_id
        access.assign("super_user", self.user_id)
        with access.session(self.user_id) as conn:
            self.project_id = conn.execute("select odl.odl_create_project('contract')").fetchone()[0]
        access.attach(self.project_id)
        with access.session(self.user_id) as conn:
            self.doc_id = conn.execute(
                "select odl.odl_create_document(%s, %s)", (self.project_id, psycopg.types.json.Jsonb(SMALL_DOC))
            ).fetchone()[0]

    def good(self, name: str, type_: str, function: str) -> tuple[str, object]:
        """A value that lets the call go as far as it can: (SQL type, value)."""
        json = psycopg.types.json
        by_name = {
            "tenant_id": self.tenant_id,
            "user_id": self.user_id,
            "node_id": self.node_id,
            "parent_id": self.node_id,
            "node_or_project": self.project_id,
            "project_id": self.project_id,
            "doc_id": self.doc_id,
            "change_id": "01J0000000000000000000CHNG",
            "role": "engineer",
            "roles": ["engineer"],
            "section": "instances",
            "action": "approve_change",
            "phase": "design",
            "level": "SITE",
            "name": "contract-name",
            "region": "EU",
            "email": "contract@example.com",
            "ulid": "01J00000000000000000000000",
            "classification": "internal",
            "status": "pending",
            "outcome": "approved",
            "steps": ["meta"],
            "after": None,
        }
        if name in by_name:
            return type_, by_name[name]
        if type_ == "integer":
            return type_, 1
        if type_ == "bigint":
            return type_, 0
        if type_ == "interval":
            return type_, "1 hour"
        if type_ in ("double precision", "numeric", "real"):
            return type_, 0.5
        if type_ == "boolean":
            return type_, name == "dry_run"
        if type_.startswith("timestamp"):
            return type_, None if name == "valid_until" else "2026-01-01T00:00:00Z"
        if type_ in ("jsonb", "json"):
            if name == "patch":
                return type_, json.Json(PATCH)
            if name == "schema":
                return type_, json.Json({"type": "object"})
            if name in ("payload", "instance", "value"):
                return type_, json.Json({"k": 1})
            if name == "trusted_digest":
                return type_, None
            return type_, json.Json(SMALL_DOC)
        if type_ == "text[]":
            return type_, []
        return type_, "x"

    def wrong(self, type_: str) -> list[object]:
        """Values of the right SQL type that are wrong for any argument."""
        json = psycopg.types.json
        if type_ == "text":
            return ["", "no-such-thing", "x" * 10_000]
        if type_ in ("jsonb", "json"):
            # The last: an array nested 14,000 deep, which crashed the cluster
            # through the jsonb transform (sent as text, cast by the server).
            return [json.Json("a string"), json.Json([]), json.Json(1e300), json.Json({"x": [[[[[]]]]]}),
                    "[" * 14_000 + "]" * 14_000]
        if type_ in ("integer", "bigint"):
            return [-1, 0, 2**31 - 1]
        if type_ == "text[]":
            return [[None], ["", ""]]
        return []


@pytest.fixture(scope="module")
def world(dbname) -> World:
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as admin:
        admin.execute("set role odl_admin")
        tenant_id = admin.execute("select odl.odl_create_tenant('contract', 'EU')").fetchone()[0]
        user_id = admin.execute(
            "select odl.odl_create_user(%s, 'contract-engineer@example.com', 'engineer')", (tenant_id,)
        ).fetchone()[0]
    return World(dbname, TenantAccess(dbname, (tenant_id, user_id)))


def call(conn: psycopg.Connection, world: World, function: Function, role: str, args: list[tuple[str, object]]):
    """Runs the call as role inside a savepoint; returns the error or None."""
    query = sql.SQL("select * from {}({})").format(
        sql.SQL(function.signature.split("(", 1)[0]),
        sql.SQL(", ").join(sql.SQL("{}::{}").format(sql.Placeholder(), sql.SQL(t)) for t, _ in args),
    )
    try:
        with conn.transaction():
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
            conn.execute("set local statement_timeout = '20s'")
            if role != "odl_admin":
                conn.execute("select odl.odl_set_context(%s, %s)", (world.tenant_id, world.user_id))
            conn.execute(query, [value for _, value in args])
            raise Rollback
    except Rollback:
        return None
    except psycopg.Error as error:
        return error


class Rollback(Exception):
    """Undoes a call that succeeded."""


def cases(function: Function, world: World):
    good = [world.good(n, t, function.name) for n, t in zip(function.arg_names, function.arg_types)]
    yield "as given", good
    for i, (name, type_) in enumerate(zip(function.arg_names, function.arg_types)):
        yield f"{name} = NULL", good[:i] + [(type_, None)] + good[i + 1 :]
        for value in world.wrong(type_):
            shown = repr(value)[:40] if not isinstance(value, str) or len(value) < 100 else f"<{len(value):,} characters>"
            yield f"{name} = {shown}", good[:i] + [(type_, value)] + good[i + 1 :]


def test_every_failure_has_a_documented_sqlstate_and_a_clean_message(dbname, world):
    documented = documented_sqlstates()
    assert {"ODP01", "ODV01", "22004", "42501"} <= documented, "the README's SQLSTATE tables were not found"
    problems = []
    with (
        psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as watcher,
        psycopg.connect(server_conninfo(dbname=dbname)) as conn,
    ):
        started = watcher.execute("select pg_postmaster_start_time()").fetchone()[0]
        functions = callable_functions(conn)
        assert len(functions) > 40, "the catalog query found too few API functions"
        calls = 0
        for function in functions:
            for role in function.roles:
                for label, args in cases(function, world):
                    error = call(conn, world, function, role, args)
                    calls += 1
                    if error is None:
                        continue
                    state = error.sqlstate
                    diag = error.diag
                    text = str(diag.message_primary or "")
                    said = "\n".join(filter(None, (diag.message_primary, diag.message_detail, diag.message_hint)))
                    if state not in documented:
                        problems.append(f"{function} as {role}, {label}: undocumented {state}: {text[:160]}")
                    elif PYTHON_INTERNALS.search(said) or "\n" in text:
                        problems.append(f"{function} as {role}, {label}: {state} with internals: {said[:160]}")
                    elif len(diag.context or "") > MAX_CONTEXT:
                        problems.append(f"{function} as {role}, {label}: {state} with {len(diag.context)} bytes of context")
        assert watcher.execute("select pg_postmaster_start_time()").fetchone()[0] == started
    assert calls > 500
    assert not problems, f"{len(problems)} of {calls} calls broke the error contract:\n" + "\n".join(problems)
