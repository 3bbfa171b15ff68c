"""odl_security_audit() is clean on the deployed schema and finds each kind
of planted problem."""

import pytest


def findings(conn):
    return conn.execute("select finding, object_name from odl.odl_security_audit()").fetchall()


def test_deployed_schema_audits_clean(conn):
    assert findings(conn) == []


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
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_planted_problem_is_found(conn, case):
    statement, expected = PLANTED[case]
    conn.execute(statement)
    assert expected in findings(conn)
