"""odl_security_audit() is clean on the deployed schema and finds each kind
of planted problem."""

import pytest


def findings(conn):
    return conn.execute("select finding, object_name from odl.odl_security_audit()").fetchall()


def test_deployed_schema_audits_clean(conn):
    # Until the role odl_signer exists (the ledger's signer), the signing
    # key is held by odl_owner, as in v0.1.0, and reported.
    signer = conn.execute("select to_regrole('odl_signer') is not null").fetchone()[0]
    assert [f for f in findings(conn) if signer or f[0] != "signing_key_exposed"] == []


@pytest.mark.parametrize("kind", ["view_not_security_barrier", "validation_function_grant", "signing_key_exposed"])
def test_deployed_schema_has_none_of_the_new_findings(conn, kind):
    """Each kind of finding issue 10 added: none on the deployed schema
    (the signing key once odl_signer holds it)."""
    signer = conn.execute("select to_regrole('odl_signer') is not null").fetchone()[0]
    if kind == "signing_key_exposed" and not signer:
        assert findings(conn) and [f for f in findings(conn) if f[0] == kind] == [
            ("signing_key_exposed", "odl.audit_hmac(integer,bytea)"), ("signing_key_exposed", "odl.audit_keys")
        ]
        return
    assert [f for f in findings(conn) if f[0] == kind] == []


PLANTED = {
    "table without rls": (
        "create table odl.planted (tenant_id text, x int)",
        ("rls_not_forced", "odl.planted"),
    ),
    "rls enabled but not forced": (
        "create table odl.planted (tenant_id text, x int);"
        " alter table odl.planted enable row level security",
        ("rls_not_forced", "odl.planted"),
    ),
    "foreign key that skips tenant_id": (
        "create table odl.planted (tenant_id odl.ulid, other_tenant odl.ulid, user_id odl.ulid,"
        " foreign key (other_tenant, user_id) references odl.users (tenant_id, user_id));"
        " alter table odl.planted enable row level security;"
        " alter table odl.planted force row level security",
        ("fk_without_tenant_id", "odl.planted"),
    ),
    "single-column foreign key to a tenant table": (
        "create table odl.planted (tenant_id odl.ulid, project_id odl.ulid);"
        " create unique index on odl.projects (project_id);"
        " alter table odl.planted add foreign key (project_id) references odl.projects (project_id);"
        " alter table odl.planted enable row level security;"
        " alter table odl.planted force row level security",
        ("fk_without_tenant_id", "odl.planted"),
    ),
    "table that references tenant rows without tenant_id": (
        "create table odl.planted (x_tenant odl.ulid, y odl.ulid,"
        " foreign key (x_tenant, y) references odl.projects (tenant_id, project_id))",
        ("tenant_data_without_tenant_id", "odl.planted"),
    ),
    "definer whose search_path does not end with pg_temp": (
        "create function odl.planted() returns int language sql security definer"
        " set search_path = pg_temp, odl as $$ select 1 $$",
        ("definer_without_search_path", "odl.planted()"),
    ),
    "definer without search_path": (
        "create function odl.planted() returns int language sql security definer as $$ select 1 $$",
        ("definer_without_search_path", "odl.planted()"),
    ),
    "definer with public on its search_path": (
        "create function odl.planted() returns int language sql security definer"
        " set search_path = public, odl as $$ select 1 $$",
        ("definer_without_search_path", "odl.planted()"),
    ),
    "view with the owner's rights": (
        "create view odl.planted as select project_id from odl.projects",
        ("view_not_security_invoker", "odl.planted"),
    ),
    "app may insert": (
        "grant insert on odl.projects to odl_app",
        ("app_privilege_beyond_api", "odl.projects"),
    ),
    "app may execute an internal function": (
        "grant execute on function odl.require_context() to odl_app",
        ("app_privilege_beyond_api", "odl.require_context()"),
    ),
    "app may read a table without rls": (
        "grant select on odl.python_modules to odl_app",
        ("app_privilege_beyond_api", "odl.python_modules"),
    ),
    "public may execute an internal function": (
        "grant execute on function odl.python_boot() to public",
        ("app_privilege_beyond_api", "odl.python_boot()"),
    ),
    "app may create in the schema": (
        "grant create on schema odl to odl_app",
        ("app_privilege_beyond_api", "odl"),
    ),
    "app is a member of the owner": (
        "grant odl_owner to odl_app",
        ("app_privilege_beyond_api", "odl_owner"),
    ),
    "filtering view without a security barrier": (
        "alter view odl.readable_documents reset (security_barrier)",
        ("view_not_security_barrier", "odl.readable_documents"),
    ),
    "view filtering by the context without a security barrier": (
        "create view odl.planted with (security_invoker = true) as"
        " select p.project_id from odl.projects as p inner join odl.current_context as c on p.created_by = c.user_id",
        ("view_not_security_barrier", "odl.planted"),
    ),
    "analyst reads the signing keys": (
        "grant select on odl.audit_keys to odl_analyst",
        ("signing_key_exposed", "odl.audit_keys"),
    ),
    "owner is a member of the signer": (
        "do $$ begin if to_regrole('odl_signer') is null then create role odl_signer; end if; end $$;"
        " grant odl_signer to odl_owner",
        ("signing_key_exposed", "odl_owner"),
    ),
    "public may validate with a schema of its own": (
        "grant execute on function public.json_matches_schema(json, json) to public",
        ("validation_function_grant", "public.json_matches_schema(json,json)"),
    ),
    "analyst may validate with a schema of its own": (
        "grant execute on function public.jsonschema_is_valid(json) to odl_analyst",
        ("validation_function_grant", "public.jsonschema_is_valid(json)"),
    ),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_planted_problem_is_found(conn, case):
    statement, expected = PLANTED[case]
    conn.execute(statement)
    assert expected in findings(conn)
