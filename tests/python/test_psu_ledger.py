"""The PSU ledger as a monthly pg_partman log (issue 15, change psu_ledger_v2):
an in-place upgrade keeps every entry and key, a key names one charge
across months, the default partition's alarm, and retention that drops
months older than seven years with their keys but holds a month an open
invoice, a held reservation or a running budget still needs."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from conftest import create_database, drop_database, server_conninfo, sqitch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psu_workload  # noqa: E402

LEDGER = "select * from odl.psu_ledger order by entry_id"


def charge(dbname: str, tenant: psu_workload.Tenant, amount: int, key: str) -> tuple:
    with psycopg.connect(server_conninfo(dbname=dbname, user="odl_app")) as app:
        app.execute("select odl.odl_set_context(%s, %s)", (tenant.tenant_id, tenant.user_id))
        return app.execute(
            "select entry_id, replayed, tenant_remaining from odl.odl_psu_charge(%s, %s, 'sim')", (amount, key)
        ).fetchone()


def test_an_upgrade_in_place_keeps_every_entry_and_key_across_months():
    name = create_database("odl_psu_upgrade")
    try:
        result = sqitch("deploy", name, "--to", "embeddings_api")
        assert result.returncode == 0, result.stdout + result.stderr
        with psycopg.connect(server_conninfo(dbname=name)) as admin:
            tenant = psu_workload.make_tenants(admin, count=1, granted=500, user_granted=None, prefix="upg")[0]
        charged = {f"k{n}": charge(name, tenant, n + 1, f"k{n}") for n in range(6)}
        with psycopg.connect(server_conninfo(dbname=name, user="odl_app")) as app:
            app.execute("select odl.odl_set_context(%s, %s)", (tenant.tenant_id, tenant.user_id))
            reservation = app.execute(
                "select reservation_id from odl.odl_psu_reserve(7, 'r1', tool => 'sim')").fetchone()[0]
            app.execute("select odl.odl_psu_settle(%s, 5)", (reservation,))
        # The old ledger holds entries of earlier months too (UTC months 1, 2 and 14 back).
        with psycopg.connect(server_conninfo(dbname=name)) as su:
            for key, months in (("k0", 14), ("k1", 2), ("k2", 1)):
                su.execute(
                    "update odl.psu_ledger set created_at = created_at - make_interval(months => %s) "
                    "where idempotency_key = %s", (months, key))
            before = su.execute(LEDGER).fetchall()
        assert len(before) == 8

        result = sqitch("deploy", name, "--verify")
        assert result.returncode == 0, result.stdout + result.stderr

        with psycopg.connect(server_conninfo(dbname=name)) as su:
            assert su.execute("select relkind from pg_class where oid = 'odl.psu_ledger'::regclass").fetchone()[0] == "p"
            assert su.execute(LEDGER).fetchall() == before
            assert su.execute(
                "select count(*) from odl.psu_ledger_keys as k inner join odl.psu_ledger as l "
                "using (tenant_id, entry_id, created_at) where k.idempotency_key = l.idempotency_key"
            ).fetchone()[0] == 7
            # Every entry lies in its UTC month's partition; the default one is empty.
            assert su.execute(
                "select count(*) from odl.psu_ledger_default"
            ).fetchone()[0] == 0
            status = su.execute(
                "select oldest_month, default_rows, utc_months, months_ahead, keep_months "
                "from odl.log_partition_status() where table_name = 'odl.psu_ledger'"
            ).fetchone()
            oldest = su.execute("select min(created_at) from odl.psu_ledger").fetchone()[0]
            assert status[0] <= oldest and status[1:] == (0, True, 4, 84)
            assert su.execute(psu_workload.INVARIANT, ([tenant.tenant_id],)).fetchall() == []
            assert su.execute("select * from odl.odl_security_audit()").fetchall() == []
        # A retry of a key from 14 months back replays it; the same key for another amount is refused.
        assert charge(name, tenant, 1, "k0") == charged["k0"][:1] + (True,) + charged["k0"][2:]
        with pytest.raises(psycopg.Error) as refused:
            charge(name, tenant, 2, "k0")
        assert refused.value.sqlstate == "ODM04"
        fresh = charge(name, tenant, 3, "k-new")
        assert fresh[1] is False

        # Revert and deploy again: every entry survives both ways.
        with psycopg.connect(server_conninfo(dbname=name)) as su:
            after = su.execute(LEDGER).fetchall()
        for step in (("revert", "-y", "--to", "embeddings_api"), ("deploy", "--verify")):
            result = sqitch(step[0], name, *step[1:])
            assert result.returncode == 0, result.stdout + result.stderr
            with psycopg.connect(server_conninfo(dbname=name)) as su:
                assert su.execute(LEDGER).fetchall() == after
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def tenant(dbname) -> psu_workload.Tenant:
    with psycopg.connect(server_conninfo(dbname=dbname)) as admin:
        return psu_workload.make_tenants(admin, count=1, granted=1000, user_granted=None, prefix="psul")[0]


@pytest.fixture
def su(dbname):
    """A superuser's transaction, rolled back."""
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        yield conn
        conn.rollback()


def test_a_key_names_one_entry_across_months(dbname, tenant, su):
    key = f"once-{uuid.uuid4().hex[:8]}"
    entry_id = charge(dbname, tenant, 2, key)[0]
    # Another entry with the key, in another month, written past the API: refused by the key table.
    with pytest.raises(psycopg.errors.UniqueViolation) as refused:
        su.execute(
            "insert into odl.psu_ledger (tenant_id, entry_id, created_at, kind, user_id, tenant_budget_id,"
            " consumed_delta, reserved_delta, idempotency_key, tool, tenant_remaining)"
            " select tenant_id, odl.odl_ulid(), created_at - interval '1 month', kind, user_id, tenant_budget_id,"
            " consumed_delta, reserved_delta, idempotency_key, tool, tenant_remaining"
            " from odl.psu_ledger where entry_id = %s", (entry_id,))
    assert refused.value.diag.constraint_name == "psu_ledger_keys_pkey"


def test_a_row_in_the_default_partition_raises_the_alarm(tenant, su):
    su.execute(
        "insert into odl.psu_ledger (tenant_id, entry_id, created_at, kind, user_id, tenant_budget_id,"
        " consumed_delta, reserved_delta, idempotency_key, tool, tenant_remaining)"
        " select tenant_id, odl.odl_ulid(), now() + interval '3 years', 'charge', %s, budget_id, 1, 0, %s, 'x', 0"
        " from odl.psu_budgets where tenant_id = %s and user_id is null",
        (tenant.user_id, f"future-{uuid.uuid4().hex[:8]}", tenant.tenant_id))
    assert su.execute(
        "select default_rows from odl.ops_log_partitions where table_name = 'odl.psu_ledger'"
    ).fetchone()[0] == 1
    check = su.execute(
        "select status, hint from odl.odl_health() where check_name = 'log_partitions'"
    ).fetchone()
    assert check[0] == "critical" and "odl.psu_ledger" in check[1]


# Five months from 90 to 86 months back (older than the 84 kept), three
# charges in each, against a budget whose period ended long ago.
PLANT = """
do $$
declare
    month0 timestamptz := (date_trunc('month', now() at time zone 'UTC') - interval '90 months') at time zone 'UTC';
    budget text := odl.odl_ulid();
begin
    perform partman.create_partition_time('odl.psu_ledger',
        array(select month0 + make_interval(months => i) from generate_series(0, 4) as i));
    insert into odl.psu_budgets (tenant_id, budget_id, period_start, period_end, granted, consumed, remaining,
        soft_thresholds)
    values (%(tenant)s, budget, month0, month0 + interval '5 months', 100, 15, 85, '{}');
    insert into odl.psu_ledger (tenant_id, entry_id, created_at, kind, user_id, tenant_budget_id, consumed_delta,
        reserved_delta, idempotency_key, tool, tenant_remaining)
    select %(tenant)s, odl.odl_ulid(), month0 + make_interval(months => m, days => k), 'charge', %(user)s, budget,
        1, 0, format('old-%%s-%%s', m, k), 'sim', 0
    from generate_series(0, 4) as m, generate_series(1, 3) as k;
end
$$
"""


def ledger_months(su) -> list[int]:
    return [r[0] for r in su.execute(
        "select count(*) filter (where l.created_at is not null) from odl.log_partitions() as p"
        " left join odl.psu_ledger as l on l.created_at >= p.range_start and l.created_at < p.range_end"
        " where p.table_name = 'odl.psu_ledger' and p.range_end <= now() - interval '84 months'"
        " group by p.range_start order by p.range_start"
    ).fetchall()]


def old_keys(su, tenant) -> int:
    return su.execute(
        "select count(*) from odl.psu_ledger_keys where tenant_id = %s and idempotency_key like 'old-%%'",
        (tenant.tenant_id,)).fetchone()[0]


def test_retention_drops_months_past_seven_years_with_their_keys_unless_held(tenant, su):
    psycopg.ClientCursor(su).execute(PLANT, {"tenant": tenant.tenant_id, "user": tenant.user_id})
    assert ledger_months(su) == [3, 3, 3, 3, 3]
    assert old_keys(su, tenant) == 15
    with pytest.raises(psycopg.errors.CheckViolation):
        with su.transaction():
            su.execute("update odl.log_retention_policies set keep_months = 12 where table_name = 'odl.psu_ledger'")

    # A reservation still held in month 2 and an open invoice overlapping
    # month 4 hold them: months 0 and 1 go, and no later one.
    budget = su.execute(
        "select tenant_budget_id, min(created_at) from odl.psu_ledger where tenant_id = %s"
        " and idempotency_key like 'old-2-%%' group by 1", (tenant.tenant_id,)).fetchone()
    reservation = su.execute(
        "insert into odl.psu_reservations (tenant_id, reservation_id, user_id, tenant_budget_id, amount, created_at,"
        " expires_at) values (%s, odl.odl_ulid(), %s, %s, 1, %s, %s) returning reservation_id",
        (tenant.tenant_id, tenant.user_id, budget[0], budget[1], budget[1])).fetchone()[0]
    su.execute(
        "insert into odl.psu_ledger (tenant_id, entry_id, created_at, kind, user_id, tenant_budget_id,"
        " consumed_delta, reserved_delta, reservation_id, idempotency_key, tool, tenant_remaining)"
        " values (%s, odl.odl_ulid(), %s, 'reserve', %s, %s, 0, 1, %s, 'old-held', 'sim', 0)",
        (tenant.tenant_id, budget[1], tenant.user_id, budget[0], reservation))
    su.execute("update odl.psu_budgets set reserved = 1, remaining = 84 where budget_id = %s", (budget[0],))
    su.execute("call odl.log_retention()")
    assert ledger_months(su) == [4, 3, 3]
    assert old_keys(su, tenant) == 9 + 1
    notices = []
    su.add_notice_handler(lambda d: notices.append((d.severity_nonlocalized, d.message_primary, d.message_detail)))
    su.execute("call odl.log_retention()")
    assert any(
        severity == "WARNING" and "kept past its retention" in message and f"reservation {reservation}" in detail
        for severity, message, detail in notices
    )

    su.execute(
        "update odl.psu_reservations set status = 'released', settled_at = expires_at where reservation_id = %s",
        (reservation,))
    month4 = su.execute(
        "select min(created_at) from odl.psu_ledger where idempotency_key like 'old-4-%%'").fetchone()[0]
    su.execute(
        "insert into odl.invoices (tenant_id, invoice_id, period_start, period_end, currency, total_minor,"
        " psu_used, status, issued_by) values (%s, odl.odl_ulid(), %s, %s + interval '1 day', 'USD', 0, 0, 'open', %s)",
        (tenant.tenant_id, month4, month4, tenant.admin_id))
    su.execute("call odl.log_retention()")
    assert ledger_months(su) == [3]
    assert old_keys(su, tenant) == 3
    su.execute("update odl.invoices set status = 'paid' where tenant_id = %s", (tenant.tenant_id,))
    su.execute("call odl.log_retention()")
    assert ledger_months(su) == []
    assert old_keys(su, tenant) == 0
    # Nothing dangles: every key names an entry, and the recent ledger is intact.
    assert su.execute(
        "select count(*) from odl.psu_ledger_keys as k left join odl.psu_ledger as l"
        " using (tenant_id, entry_id, created_at) where l.entry_id is null").fetchone()[0] == 0
    assert su.execute(
        "select months_to_retire from odl.log_partition_status() where table_name = 'odl.psu_ledger'"
    ).fetchone()[0] == 0
