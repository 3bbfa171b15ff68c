"""Residency of the writes that set no context (issue 15, regions): an
administrator's odl_create_user() and the billing job act as a tenant
without odl_set_context(), so its region check never ran for them. They
pass through odl.audit_append_as(), which now refuses a tenant on its way
to another region (ODW04); the billing job leaves such a tenant to its new
region. Every odl_ function an administrator may call with a tenant_id is
listed here, so that a new one is looked at."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from conftest import server_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psu_workload  # noqa: E402

# Each odl_ function odl_admin (and not odl_app) may call with a tenant_id,
# and what it writes for that tenant.
ADMIN_TENANT_FUNCTIONS = {
    "odl_create_user": "a user and its audit event: refused while the tenant moves (ODW04)",
    "odl_region_freeze": "the move's own first step",
    "odl_region_unfreeze": "the move's own way back",
    "odl_audit_digest": "a digest of the source's chain, which stays the source's (the move copies none)",
    "odl_audit_verify": "nothing",
    "odl_audit_since": "nothing",
    "odl_find_user": "nothing",
    "odl_my_binding": "nothing",
}


def test_every_administrators_function_with_a_tenant_id_is_accounted_for(dbname):
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        found = {r[0] for r in su.execute(
            "select p.proname from pg_proc as p where p.pronamespace = 'odl'::regnamespace"
            " and p.proname like 'odl\\_%' and has_function_privilege('odl_admin', p.oid, 'execute')"
            " and not has_function_privilege('odl_app', p.oid, 'execute') and p.proargnames[1] = 'tenant_id'"
        ).fetchall()}
    assert found == set(ADMIN_TENANT_FUNCTIONS)


def admin(dbname: str) -> psycopg.Connection:
    conn = psycopg.connect(server_conninfo(dbname=dbname), autocommit=True)
    conn.execute("set role odl_admin")
    return conn


def users(dbname: str, tenant_id: str) -> int:
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        return su.execute("select count(*) from odl.users where tenant_id = %s", (tenant_id,)).fetchone()[0]


def billed(dbname: str, tenant_id: str) -> int:
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        return su.execute("select count(*) from odl.billing_items where tenant_id = %s", (tenant_id,)).fetchone()[0]


def test_a_frozen_tenant_gets_no_user_and_no_bill_until_it_is_unfrozen(dbname):
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        frozen, other = psu_workload.make_tenants(conn, count=2, granted=10, user_granted=None, prefix="frz")
    with psycopg.connect(server_conninfo(dbname=dbname, user="odl_app")) as app:
        app.execute("select odl.odl_set_context(%s, %s)", (frozen.tenant_id, frozen.admin_id))
        app.execute("select odl.odl_subscribe('PRO', 2)")
    with psycopg.connect(server_conninfo(dbname=dbname)) as su:
        # The subscription began 40 days ago: its next cycle is due.
        su.execute("update odl.subscriptions set created_at = created_at - interval '40 days' where tenant_id = %s",
                   (frozen.tenant_id,))
        su.execute("update odl.billing_items set period_start = period_start - interval '40 days',"
                   " period_end = period_end - interval '40 days', billed_at = billed_at - interval '40 days'"
                   " where tenant_id = %s", (frozen.tenant_id,))
    with admin(dbname) as adm:
        adm.execute("select odl.odl_region_freeze(%s, 'US', 1)", (frozen.tenant_id,))
        try:
            before = users(dbname, frozen.tenant_id)
            with pytest.raises(psycopg.Error) as refused:
                adm.execute("select odl.odl_create_user(%s, %s, 'engineer')",
                            (frozen.tenant_id, f"{uuid.uuid4().hex[:8]}@frz.example"))
            assert refused.value.sqlstate == "ODW04"
            assert f"tenant_id {frozen.tenant_id}, action user.created" == refused.value.diag.message_detail
            assert users(dbname, frozen.tenant_id) == before
            # Another tenant is served as before.
            adm.execute("select odl.odl_create_user(%s, %s, 'engineer')",
                        (other.tenant_id, f"{uuid.uuid4().hex[:8]}@frz.example"))
            # The billing job passes the frozen tenant by, without failing.
            items = billed(dbname, frozen.tenant_id)
            with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
                su.execute("select * from odl.billing_maintenance()")
            assert billed(dbname, frozen.tenant_id) == items
        finally:
            adm.execute("select odl.odl_region_unfreeze(%s)", (frozen.tenant_id,))
        adm.execute("select odl.odl_create_user(%s, %s, 'engineer')",
                    (frozen.tenant_id, f"{uuid.uuid4().hex[:8]}@frz.example"))
    assert users(dbname, frozen.tenant_id) == before + 1
    with psycopg.connect(server_conninfo(dbname=dbname), autocommit=True) as su:
        su.execute("select * from odl.billing_maintenance()")
    assert billed(dbname, frozen.tenant_id) > items
