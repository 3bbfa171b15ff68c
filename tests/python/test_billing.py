"""Billing (issue 13, facts §3.1): cycles billed in advance, upgrades
prorated at once to the cent, downgrades at the cycle's end, expired trials
dropping to FREE, and invoices that take each billing item once and count
each PSU of the ledger once, even with charges committing while invoices
are issued. Time moves by shifting a tenant's billing timestamps back, as
a superuser: the same as the clock moving forward."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TenantAccess, server_conninfo
from test_monetisation import Shop, sqlstate


@pytest.fixture
def shop(dbname, access) -> Shop:
    return Shop(dbname, access)


def superuser(dbname: str) -> psycopg.Connection:
    return psycopg.connect(server_conninfo(dbname=dbname), autocommit=True)


def shift(dbname: str, tenant_id: str, delta: timedelta) -> None:
    """Moves the tenant's billing clock forward by delta."""
    with superuser(dbname) as su:
        su.execute(
            "update odl.subscriptions set created_at = created_at - %(d)s, trial_ends_at = trial_ends_at - %(d)s"
            " where tenant_id = %(t)s", {"d": delta, "t": tenant_id})
        su.execute(
            "update odl.billing_items set period_start = period_start - %(d)s, period_end = period_end - %(d)s,"
            " billed_at = billed_at - %(d)s where tenant_id = %(t)s", {"d": delta, "t": tenant_id})
        su.execute(
            "update odl.subscription_changes set requested_at = requested_at - %(d)s,"
            " effective_at = effective_at - %(d)s, applied_at = applied_at - %(d)s where tenant_id = %(t)s",
            {"d": delta, "t": tenant_id})


def items(dbname: str, tenant_id: str) -> list[tuple]:
    with superuser(dbname) as su:
        return su.execute(
            "select kind, plan_code, seats, amount_minor from odl.billing_items where tenant_id = %s"
            " order by billed_at, item_id", (tenant_id,)).fetchall()


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_cycle_prices_follow_the_plans(conn):
    amount = "select odl.cycle_amount(%s, %s, %s)"
    # PRO: $79 a seat a month, annual prepay 10% off; ENTERPRISE from $25,000
    # a year (a twelfth a month, rounded half up); FREE costs nothing.
    assert conn.execute(amount, ("PRO", 3, "monthly")).fetchone() == (23700,)
    assert conn.execute(amount, ("PRO", 1, "annual")).fetchone() == (85320,)
    assert conn.execute(amount, ("ENTERPRISE", 40, "annual")).fetchone() == (2500000,)
    assert conn.execute(amount, ("ENTERPRISE", 40, "monthly")).fetchone() == (208333,)
    assert conn.execute(amount, ("FREE", 12, "monthly")).fetchone() == (0,)


def test_an_upgrade_is_prorated_at_once_and_a_downgrade_waits_for_the_cycle(shop, dbname):
    with shop.session() as conn:
        assert sqlstate(conn, "select odl.odl_change_plan('PRO', 3)") == "ODJ03"
        conn.execute("select odl.odl_subscribe('PRO', 3)")
        conn.commit()
    shift(dbname, shop.tenant_id, timedelta(days=10, hours=5))
    with shop.session() as conn:
        change_id, kind, effective_at, proration = conn.execute(
            "select * from odl.odl_change_plan('PRO', 5)").fetchone()
        now = conn.execute("select now()").fetchone()[0]
        conn.commit()
    assert kind == "upgrade" and effective_at == now
    with superuser(dbname) as su:
        start, end = su.execute(
            "select period_start, period_end from odl.billing_items where tenant_id = %s and kind = 'cycle'",
            (shop.tenant_id,)).fetchone()
        granted = su.execute(
            "select granted from odl.psu_budgets where tenant_id = %s and user_id is null", (shop.tenant_id,)
        ).fetchone()[0]
    # (5 - 3) seats x $79 for the rest of the cycle, by the microsecond.
    rest = Decimal((end - now) // timedelta(microseconds=1)) / Decimal((end - start) // timedelta(microseconds=1))
    assert proration == half_up(Decimal(2 * 7900) * rest)
    assert 0 < proration < 2 * 7900
    assert items(dbname, shop.tenant_id) == [("cycle", "PRO", 3, 23700), ("proration", "PRO", 5, proration)]
    assert granted == 500

    with shop.session() as conn:
        assert sqlstate(conn, "select odl.odl_change_plan('PRO', 5)") == "ODJ02"
        assert sqlstate(conn, "select odl.odl_change_plan('GOLD', 5)") == "ODM05"
        assert sqlstate(conn, "select odl.odl_change_plan('PRO', -1)") == "22023"
        # A second upgrade in the cycle bills one more seat for what is left.
        again, later = conn.execute(
            "select proration_minor, now() from odl.odl_change_plan('PRO', 6)").fetchone()
        first = conn.execute("select change_id, kind, effective_at, proration_minor"
                             " from odl.odl_change_plan('PRO', 4)").fetchone()
        second = conn.execute("select change_id, kind, effective_at, proration_minor"
                              " from odl.odl_change_plan('PRO', 2)").fetchone()
        conn.commit()
    rest = Decimal((end - later) // timedelta(microseconds=1)) / Decimal((end - start) // timedelta(microseconds=1))
    assert again == half_up(Decimal(7900) * rest)
    assert first[1:] == ("downgrade", end, 0) and second[1:] == ("downgrade", end, 0)
    with shop.session(shop.engineer) as conn:
        assert sqlstate(conn, "select odl.odl_change_plan('PRO', 1)") == "ODR01"
    with superuser(dbname) as su:
        assert su.execute(
            "select change_id, applied_at is null, canceled_at is not null from odl.subscription_changes"
            " where tenant_id = %s and kind = 'downgrade' order by requested_at, change_id", (shop.tenant_id,)
        ).fetchall() == [(first[0], True, True), (second[0], True, False)]
        assert su.execute("select seats from odl.subscriptions where tenant_id = %s and status = 'active'",
                          (shop.tenant_id,)).fetchone() == (6,)

    # The cycle ends: the next one is billed with the downgrade applied.
    shift(dbname, shop.tenant_id, end - now + timedelta(hours=1))
    with superuser(dbname) as su:
        tenants, billed = su.execute("select * from odl.billing_maintenance()").fetchone()
        assert billed >= 1
        assert su.execute("select seats from odl.subscriptions where tenant_id = %s and status = 'active'",
                          (shop.tenant_id,)).fetchone() == (2,)
        assert su.execute(
            "select applied_at = effective_at from odl.subscription_changes where change_id = %s", (second[0],)
        ).fetchone() == (True,)
    assert items(dbname, shop.tenant_id)[3:] == [("cycle", "PRO", 2, 15800)]


def test_an_annual_cycle_costs_twelve_months_less_ten_percent(shop, dbname):
    with shop.session() as conn:
        conn.execute("select odl.odl_subscribe('PRO', 7, 'annual')")
        change = conn.execute("select kind, proration_minor from odl.odl_change_plan('PRO', 7, 'monthly')").fetchone()
        conn.commit()
    assert change == ("downgrade", 0)
    assert items(dbname, shop.tenant_id) == [("cycle", "PRO", 7, 7 * 85320)]


def test_an_expired_trial_drops_to_free_and_its_budget_grants_no_more(shop, dbname):
    with shop.session() as conn:
        conn.execute("select odl.odl_subscribe('PRO', 2, 'monthly', now() + interval '14 days')")
        conn.execute("select odl.odl_psu_charge(30, 'k1', 'sim')")
        conn.commit()
    with superuser(dbname) as su:
        su.execute("select odl.billing_maintenance()")
    assert items(dbname, shop.tenant_id) == []  # nothing is billed during a trial
    shift(dbname, shop.tenant_id, timedelta(days=15))
    # Before any billing call sees the end, the trial grants nothing more.
    with shop.session() as conn:
        assert sqlstate(conn, "select odl.odl_psu_charge(1, 'k0', 'sim')") == "ODM01"
    with superuser(dbname) as su:
        su.execute("select odl.billing_maintenance()")
        live = su.execute(
            "select plan_code, status, seats from odl.subscriptions where tenant_id = %s and status <> 'canceled'",
            (shop.tenant_id,)).fetchall()
        assert live == [("FREE", "active", 2)]
        assert su.execute(
            "select granted, consumed, reserved, remaining from odl.psu_budgets"
            " where tenant_id = %s and user_id is null", (shop.tenant_id,)).fetchone() == (30, 30, 0, 0)
        assert su.execute(
            "select count(*) from odl.audit_events where tenant_id = %s and action = 'subscription.trial_expired'",
            (shop.tenant_id,)).fetchone() == (1,)
    assert items(dbname, shop.tenant_id) == [("cycle", "FREE", 2, 0)]
    with shop.session() as conn:
        assert sqlstate(conn, "select odl.odl_psu_charge(1, 'k2', 'sim')") == "ODM01"


def tenant_budgets(dbname: str, tenant_id: str) -> list[tuple]:
    """The tenant's own budgets, oldest first: (months before this one at
    their start, granted, consumed, reserved, remaining)."""
    with superuser(dbname) as su:
        return su.execute(
            "select (extract(year from age(date_trunc('month', now() at time zone 'UTC'),"
            " period_start at time zone 'UTC')) * 12 + extract(month from age(date_trunc('month', now() at time"
            " zone 'UTC'), period_start at time zone 'UTC')))::int, granted, consumed, reserved, remaining"
            " from odl.psu_budgets where tenant_id = %s and user_id is null order by period_start",
            (tenant_id,)).fetchall()


def month_ends(dbname: str, tenant_id: str) -> None:
    """Moves the tenant's budgets back one month: the month they cover has
    ended, and a new one has begun."""
    with superuser(dbname) as su:
        su.execute(
            "update odl.psu_budgets set period_start = period_start - interval '1 month',"
            " period_end = period_end - interval '1 month' where tenant_id = %s", (tenant_id,))


def renewals(dbname: str, tenant_id: str) -> list[tuple]:
    with superuser(dbname) as su:
        return su.execute(
            "select actor_id, payload ->> 'allowance', payload ->> 'carried' from odl.audit_events"
            " where tenant_id = %s and action = 'psu.renewed' order by seq", (tenant_id,)).fetchall()


def test_the_plans_psu_come_back_each_month_with_what_the_last_one_left(shop, dbname):
    """PRO includes 100 PSU per seat a month (facts §3.2). The first charge
    of a new month finds the month's budget granted, without any job run:
    the allowance plus the previous month's unused PSU (rollover), at most
    one allowance more."""
    with shop.session() as conn:
        conn.execute("select odl.odl_subscribe('PRO', 2)")
        conn.execute("select odl.odl_psu_charge(30, 'k1', 'sim')")
        conn.commit()
    month_ends(dbname, shop.tenant_id)
    with shop.session(shop.engineer) as conn:
        conn.execute("select odl.odl_psu_charge(5, 'k2', 'sim')")
        conn.commit()
    assert tenant_budgets(dbname, shop.tenant_id) == [(1, 200, 30, 0, 170), (0, 370, 5, 0, 365)]
    assert renewals(dbname, shop.tenant_id) == [(None, "200", "170")]
    # Nothing more this month: the charge and billing find it covered.
    with superuser(dbname) as su:
        su.execute("select odl.billing_maintenance()")
    with shop.session() as conn:
        conn.execute("select odl.odl_psu_charge(5, 'k3', 'sim')")
        conn.commit()
    assert len(tenant_budgets(dbname, shop.tenant_id)) == 2
    # Rollover is at most one allowance: 365 left, 200 carried.
    month_ends(dbname, shop.tenant_id)
    with superuser(dbname) as su:
        su.execute("select odl.billing_maintenance()")
    assert tenant_budgets(dbname, shop.tenant_id)[-1] == (0, 400, 0, 0, 400)
    assert renewals(dbname, shop.tenant_id)[-1] == (None, "200", "200")


def test_the_first_charges_of_a_month_racing_get_one_budget(shop, dbname):
    with shop.session() as conn:
        conn.execute("select odl.odl_subscribe('PRO', 1)")
        conn.commit()
    month_ends(dbname, shop.tenant_id)
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def charge(n: int) -> None:
        try:
            with shop.session() as conn:
                barrier.wait()
                conn.execute("select odl.odl_psu_charge(2, %s, 'sim')", (f"race{n}",))
                conn.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=charge, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert tenant_budgets(dbname, shop.tenant_id)[-1] == (0, 200, 8, 0, 192)
    assert len(renewals(dbname, shop.tenant_id)) == 1


def test_no_psu_come_back_after_a_trial_or_on_a_plan_without_them(shop, dbname):
    with shop.session() as conn:
        conn.execute("select odl.odl_subscribe('PRO', 1, 'monthly', now() + interval '3 days')")
        conn.execute("select odl.odl_psu_charge(10, 'k1', 'sim')")
        conn.commit()
    shift(dbname, shop.tenant_id, timedelta(days=4))
    month_ends(dbname, shop.tenant_id)
    # No billing call has seen the trial end yet: the charge does not renew it.
    with shop.session() as conn:
        assert sqlstate(conn, "select odl.odl_psu_charge(1, 'k2', 'sim')") == "ODM02"
    with superuser(dbname) as su:
        su.execute("select odl.billing_maintenance()")
    with shop.session() as conn:
        assert sqlstate(conn, "select odl.odl_psu_charge(1, 'k3', 'sim')") == "ODM02"
    assert len(tenant_budgets(dbname, shop.tenant_id)) == 1
    assert renewals(dbname, shop.tenant_id) == []


def subscription(shop: Shop, user_id: str | None = None) -> dict | None:
    with shop.session(user_id) as conn:
        cur = conn.execute("select * from odl.odl_subscription()")
        rows = cur.fetchall()
        conn.commit()
    assert len(rows) <= 1
    return dict(zip([c.name for c in cur.description], rows[0])) if rows else None


def test_every_user_of_the_tenant_reads_the_subscription_brought_up_to_now(shop, dbname):
    assert subscription(shop, shop.engineer) is None
    with shop.session() as conn:
        conn.execute("select odl.odl_subscribe('PRO', 4)")
        conn.commit()
    seen = subscription(shop, shop.engineer)
    assert (seen["plan_code"], seen["status"], seen["seats"], seen["billing_cycle"]) == ("PRO", "active", 4, "monthly")
    with shop.session() as conn:
        now = conn.execute("select now()").fetchone()[0]
    assert seen["period_start"] <= now < seen["period_end"] and seen["trial_ends_at"] is None
    assert seen["pending_change_id"] is None
    with shop.session() as conn:
        change_id, _, effective_at, _ = conn.execute("select * from odl.odl_change_plan('PRO', 2)").fetchone()
        conn.commit()
    seen = subscription(shop, shop.engineer)
    assert (seen["seats"], seen["pending_change_id"], seen["pending_seats"]) == (4, change_id, 2)
    assert seen["pending_effective_at"] == effective_at == seen["period_end"]
    # The cycle ends with no billing job run: the read itself applies the
    # downgrade and bills the next cycle.
    delta = seen["period_end"] - now + timedelta(hours=1)
    shift(dbname, shop.tenant_id, delta)
    later = subscription(shop, shop.engineer)
    assert (later["seats"], later["pending_change_id"]) == (2, None)
    assert later["period_start"] == seen["period_end"] - delta
    assert items(dbname, shop.tenant_id)[-1] == ("cycle", "PRO", 2, 15800)
    # A user of another tenant sees that tenant's (none), not this one.
    assert subscription(new_shop(dbname)) is None


def invoice_totals(dbname: str, tenant_id: str) -> tuple[int, int, int]:
    """(PSU on invoices, PSU consumed by the ledger on tenant budgets, sum of amounts = sum of totals)."""
    with superuser(dbname) as su:
        invoiced = su.execute(
            "select coalesce(sum(psu), 0) from odl.invoice_lines where tenant_id = %s", (tenant_id,)).fetchone()[0]
        ledger = su.execute(
            "select coalesce(sum(l.consumed_delta), 0) from odl.psu_ledger as l where l.tenant_id = %s",
            (tenant_id,)).fetchone()[0]
        lines, totals = su.execute(
            "select (select coalesce(sum(amount_minor), 0) from odl.invoice_lines where tenant_id = %(t)s),"
            " (select coalesce(sum(total_minor), 0) from odl.invoices where tenant_id = %(t)s)", {"t": tenant_id}
        ).fetchone()
        assert lines == totals
        return invoiced, ledger, totals


def test_invoices_take_each_item_once_and_reconcile_with_the_psu_ledger(shop, dbname):
    rng = random.Random(7)
    with shop.session() as conn:
        conn.execute("select odl.odl_subscribe('PRO', 3)")
        conn.commit()
    shift(dbname, shop.tenant_id, timedelta(days=40))
    with shop.session() as conn:
        for n in range(25):
            conn.execute("select odl.odl_psu_charge(%s, %s, 'sim')", (rng.randint(1, 9), f"c{n}"))
        reservation = conn.execute("select reservation_id from odl.odl_psu_reserve(12, 'r1')").fetchone()[0]
        conn.execute("select odl.odl_psu_settle(%s, 5)", (reservation,))
        assert sqlstate(conn, "select odl.odl_issue_invoice(now() - interval '1 day', now() + interval '1 day')") \
            == "ODJ04"
        first = conn.execute("select odl.odl_issue_invoice(now() - interval '60 days', now())").fetchone()[0]
        lines = conn.execute("select kind, amount_minor, psu, currency from odl.odl_invoice_lines(%s)",
                             (first,)).fetchall()
        assert sqlstate(conn, "select odl.odl_issue_invoice(now() - interval '61 days', now() - interval '59 days')"
                        ) == "ODJ05"
        assert sqlstate(conn, "select * from odl.odl_invoice_lines(%s)", ("0" * 26,)) == "ODJ06"
        conn.commit()
    # Two cycles began (40 days ago and 10 days ago); the PSU consumed so far.
    invoiced, ledger, total = invoice_totals(dbname, shop.tenant_id)
    assert [line[:2] for line in lines if line[0] == "cycle"] == [("cycle", 23700), ("cycle", 23700)]
    assert total == 47400 and invoiced == ledger > 0
    assert {line[3] for line in lines} == {"USD"}
    with shop.session(shop.engineer) as conn:
        assert sqlstate(conn, "select * from odl.odl_invoice_lines(%s)", (first,)) == "ODR01"
    with shop.session() as conn:
        conn.execute("select odl.odl_psu_charge(4, 'late', 'sim')")
        conn.commit()
    time.sleep(0.01)
    with shop.session() as conn:
        second = conn.execute("select odl.odl_issue_invoice(now() - interval '5 ms', now())").fetchone()[0]
        lines = conn.execute("select kind, amount_minor, psu from odl.odl_invoice_lines(%s)", (second,)).fetchall()
        conn.commit()
    assert lines == [("psu", 0, 4)]
    invoiced, ledger, total = invoice_totals(dbname, shop.tenant_id)
    assert invoiced == ledger and total == 47400

    # Analysts see the invoices, reconciling with the lines and the ledger.
    login = f"ana_{uuid.uuid4().hex[:6]}"
    with superuser(dbname) as su:
        su.execute(f"create role {login} login in role odl_analyst")
        try:
            with shop.session() as conn:
                conn.execute("select odl.odl_bind_login(%s, %s)", (login, shop.admin))
                conn.commit()
            with psycopg.connect(server_conninfo(dbname=dbname, user=login)) as ana:
                ana.execute("select odl.odl_set_context(%s, %s)", (shop.tenant_id, shop.admin))
                rows = ana.execute(
                    "select invoice_id, total_minor, cycles_minor + prorations_minor, psu_used, lines"
                    " from odl.analyst_invoices order by period_start").fetchall()
            assert [r[0] for r in rows] == [first, second]
            assert all(r[1] == r[2] for r in rows) and sum(r[1] for r in rows) == 47400
            assert sum(r[3] for r in rows) == ledger and rows[1][3:] == (4, 1)
        finally:
            su.execute(f"drop owned by {login}")
            su.execute(f"drop role {login}")


def test_charges_racing_invoices_are_each_counted_once(shop, dbname):
    with shop.session() as conn:
        conn.execute("select odl.odl_subscribe('PRO', 1)")
        conn.execute("select odl.odl_psu_grant(1000000)")
        conn.commit()
    stop = time.perf_counter() + 2.0
    charged = [0] * 4

    def charger(n: int) -> None:
        with shop.session() as conn:
            conn.commit()
            while time.perf_counter() < stop:
                conn.execute("select odl.odl_set_context(%s, %s)", (shop.tenant_id, shop.admin))
                conn.execute("select odl.odl_psu_charge(1, %s, 'sim')", (uuid.uuid4().hex,))
                if random.random() < 0.1:
                    conn.rollback()
                else:
                    conn.commit()
                    charged[n] += 1

    threads = [threading.Thread(target=charger, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    invoices = 0
    with shop.session() as conn:
        conn.commit()
        last = conn.execute("select now() - interval '1 hour'").fetchone()[0]
        while any(t.is_alive() for t in threads) or invoices == 0:
            time.sleep(0.15)
            conn.execute("select odl.odl_set_context(%s, %s)", (shop.tenant_id, shop.admin))
            conn.execute("select odl.odl_issue_invoice(%s, now())", (last,))
            last = conn.execute("select now()").fetchone()[0]
            conn.commit()
            invoices += 1
        for t in threads:
            t.join()
        conn.execute("select odl.odl_set_context(%s, %s)", (shop.tenant_id, shop.admin))
        conn.execute("select odl.odl_issue_invoice(%s, now())", (last,))
        conn.commit()
    invoiced, ledger, _ = invoice_totals(dbname, shop.tenant_id)
    assert invoices >= 5
    assert invoiced == ledger == sum(charged) > 0


PRICE = {"PRO": 7900, "ENTERPRISE": 2500000, "FREE": 0}


def monthly_amount(plan: str, seats: int) -> int:
    if plan == "ENTERPRISE":
        return half_up(Decimal(PRICE[plan]) / 12)
    return PRICE[plan] * (seats if plan == "PRO" else 1)


def new_shop(dbname: str) -> Shop:
    with psycopg.connect(server_conninfo(dbname=dbname)) as admin:
        admin.execute("set role odl_admin")
        tenant_id = admin.execute("select odl.odl_create_tenant(%s, 'EU')",
                                  (f"b-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
        user_id = admin.execute("select odl.odl_create_user(%s, %s, 'engineer')",
                                (tenant_id, f"{uuid.uuid4().hex[:6]}@example.com")).fetchone()[0]
    return Shop(dbname, TenantAccess(dbname, (tenant_id, user_id)))


@settings(max_examples=int(os.environ.get("ODL_BILLING_EXAMPLES", "10")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["PRO", "ENTERPRISE", "FREE"]), st.integers(0, 20), st.integers(1, 60)),
                min_size=1, max_size=6))
def test_random_plan_changes_bill_exactly_what_a_reference_computes(dbname, changes):
    """A monthly PRO subscription of 2 seats; each change comes some hours
    later in the same cycle. Reference: an upgrade (a dearer cycle) bills
    (new - current) x the rest of the cycle, half up, and replaces a waiting
    downgrade; anything else waits; the next cycle costs what is current
    then, the waiting change applied."""
    shop = new_shop(dbname)
    plan, seats, waiting = "PRO", 2, None
    with shop.session() as conn:
        conn.execute("select odl.odl_subscribe('PRO', 2)")
        conn.commit()
    expected_items = [("cycle", "PRO", 2, 15800)]
    for new_plan, new_seats, hours in changes:
        shift(dbname, shop.tenant_id, timedelta(hours=hours))
        with shop.session() as conn:
            if (new_plan, new_seats) == (plan, seats):
                assert sqlstate(conn, "select odl.odl_change_plan(%s, %s)", (new_plan, new_seats)) == "ODJ02"
                continue
            kind, proration, now = conn.execute(
                "select kind, proration_minor, now() from odl.odl_change_plan(%s, %s)", (new_plan, new_seats)
            ).fetchone()
            conn.commit()
        with superuser(dbname) as su:
            start, end = su.execute(
                "select period_start, period_end from odl.billing_items where tenant_id = %s and kind = 'cycle'",
                (shop.tenant_id,)).fetchone()
        new, old = monthly_amount(new_plan, new_seats), monthly_amount(plan, seats)
        if new > old:
            rest = Decimal((end - now) // timedelta(microseconds=1)) / Decimal(
                (end - start) // timedelta(microseconds=1))
            assert (kind, proration) == ("upgrade", half_up(Decimal(new - old) * rest))
            expected_items.append(("proration", new_plan, new_seats, proration))
            plan, seats, waiting = new_plan, new_seats, None
        else:
            assert (kind, proration) == ("downgrade", 0)
            waiting = (new_plan, new_seats)
    shift(dbname, shop.tenant_id, timedelta(days=32))
    with superuser(dbname) as su:
        su.execute("select odl.billing_catch_up(%s)", (shop.tenant_id,))
    plan, seats = waiting or (plan, seats)
    expected_items.append(("cycle", plan, seats, monthly_amount(plan, seats)))
    assert items(dbname, shop.tenant_id)[:len(expected_items)] == expected_items
