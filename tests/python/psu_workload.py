"""The PSU concurrency workload, shared by tests/python/test_psu_concurrency.py
(a scaled-down run) and benchmarks/bench_psu.py (64 connections x 1,000
charges): tenants with tiny budgets, connections that charge, retry with
the same idempotency key, abort their transaction, or reserve and then
consume; a sampler that checks the ledger against the budgets in one
snapshot after another while they run; and the checks at the end."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

# A snapshot must find every budget equal to its ledger: consumed and
# reserved are the sums of the ledger's deltas, and granted is consumed +
# reserved + remaining. Rows returned are violations.
INVARIANT = """
select b.tenant_id, b.budget_id, b.granted, b.consumed, b.reserved, b.remaining, l.consumed, l.reserved
from odl.psu_budgets as b
left join lateral (
    select coalesce(sum(e.consumed_delta), 0) as consumed, coalesce(sum(e.reserved_delta), 0) as reserved
    from odl.psu_ledger as e
    where e.tenant_id = b.tenant_id and b.budget_id in (e.tenant_budget_id, e.user_budget_id)
) as l on true
where b.tenant_id = any(%s)
    and (b.consumed <> l.consumed or b.reserved <> l.reserved or b.granted <> b.consumed + b.reserved + b.remaining
         or b.remaining < 0
         or b.reserved <> (
             select coalesce(sum(v.amount), 0) from odl.psu_reservations as v
             where v.tenant_id = b.tenant_id and v.status = 'held'
                 and b.budget_id in (v.tenant_budget_id, v.user_budget_id)
         ))
"""


@dataclass
class Tenant:
    tenant_id: str
    user_id: str
    granted: int
    user_granted: int | None
    admin_id: str = ""


@dataclass
class Outcome:
    """What the clients saw."""

    committed: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # key -> (entry_id, amount, tenant)
    aborted: set[str] = field(default_factory=set)
    refused: int = 0
    retries: int = 0
    retry_mismatches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    snapshots: int = 0
    top_ups: int = 0
    violations: list[tuple] = field(default_factory=list)
    lock = threading.Lock()


def make_tenants(
    admin: psycopg.Connection, count: int, granted: int, user_granted: int | None, prefix: str
) -> list[Tenant]:
    """count committed tenants, each with an administrator, an engineer and a
    tiny budget (and a user budget for the engineer in every other tenant)."""
    tenants = []
    admin.autocommit = True
    for n in range(count):
        admin.execute("set role odl_admin")
        tenant_id = admin.execute(
            "select odl.odl_create_tenant(%s, 'EU')", (f"{prefix}-{n}-{uuid.uuid4().hex[:6]}",)
        ).fetchone()[0]
        boss = admin.execute(
            "select odl.odl_create_user(%s, %s, 'super_user')", (tenant_id, f"boss-{uuid.uuid4().hex[:8]}@x.io")
        ).fetchone()[0]
        user_id = admin.execute(
            "select odl.odl_create_user(%s, %s, 'engineer')", (tenant_id, f"eng-{uuid.uuid4().hex[:8]}@x.io")
        ).fetchone()[0]
        admin.execute("reset role")
        admin.execute("set role odl_app")
        with admin.transaction():
            admin.execute("select odl.odl_set_context(%s, %s)", (tenant_id, boss))
            admin.execute("select odl.odl_psu_grant(%s)", (granted,))
        mine = user_granted if n % 2 == 1 else None
        if mine is not None:
            with admin.transaction():
                admin.execute("select odl.odl_set_context(%s, %s)", (tenant_id, boss))
                admin.execute("select odl.odl_psu_grant(%s, %s)", (mine, user_id))
        admin.execute("reset role")
        tenants.append(Tenant(tenant_id, user_id, granted, mine, boss))
    return tenants


def client(
    connect: Callable[[], psycopg.Connection], tenants: list[Tenant], operations: int, seed: int, out: Outcome,
    retry_share: float = 0.20, abort_share: float = 0.05, reserve_share: float = 0.10,
) -> None:
    rng = random.Random(seed)
    done: list[tuple[str, int, Tenant, str]] = []  # committed charges this client may retry
    conn = connect()
    try:
        for _ in range(operations):
            roll = rng.random()
            if roll < retry_share and done:
                key, amount, tenant, entry = rng.choice(done)
                with out.lock:
                    out.retries += 1
                try:
                    with conn.transaction():
                        conn.execute("select odl.odl_set_context(%s, %s)", (tenant.tenant_id, tenant.user_id))
                        row = conn.execute(
                            "select entry_id, replayed from odl.odl_psu_charge(%s, %s, 'bench')", (amount, key)
                        ).fetchone()
                    if row != (entry, True):
                        with out.lock:
                            out.retry_mismatches.append(f"{key}: {row} instead of ({entry}, True)")
                except psycopg.Error as error:
                    with out.lock:
                        out.errors.append(f"retry {key}: {error.sqlstate} {error}")
                continue
            tenant = rng.choice(tenants)
            amount = rng.randint(1, 5)
            key = uuid.uuid4().hex
            aborted = roll < retry_share + abort_share
            reserving = not aborted and roll < retry_share + abort_share + reserve_share
            started = time.perf_counter()
            try:
                if aborted:
                    conn.execute("select odl.odl_set_context(%s, %s)", (tenant.tenant_id, tenant.user_id))
                    conn.execute("select odl.odl_psu_charge(%s, %s, 'bench')", (amount, key))
                    conn.rollback()
                    with out.lock:
                        out.aborted.add(key)
                    continue
                with conn.transaction():
                    conn.execute("select odl.odl_set_context(%s, %s)", (tenant.tenant_id, tenant.user_id))
                    if reserving:
                        reservation = conn.execute(
                            "select reservation_id from odl.odl_psu_reserve(%s, %s, '1 hour', 'bench')",
                            (amount, key),
                        ).fetchone()[0]
                        entry = conn.execute(
                            "select entry_id from odl.odl_psu_settle(%s, %s)", (reservation, amount - 1)
                        ).fetchone()[0]
                        charged = amount - 1
                    else:
                        entry = conn.execute(
                            "select entry_id from odl.odl_psu_charge(%s, %s, 'bench')", (amount, key)
                        ).fetchone()[0]
                        charged = amount
                elapsed = time.perf_counter() - started
                with out.lock:
                    out.committed[key] = (entry, charged, tenant.tenant_id)
                    out.latencies.append(elapsed)
                if not reserving:
                    done.append((key, amount, tenant, entry))
            except psycopg.Error as error:
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.rollback()
                if error.sqlstate == "ODM01":
                    with out.lock:
                        out.refused += 1
                else:
                    with out.lock:
                        out.errors.append(f"{key}: {error.sqlstate} {error}")
    finally:
        conn.close()


def sampler(connect: Callable[[], psycopg.Connection], tenant_ids: list[str], stop: threading.Event,
            out: Outcome) -> None:
    """Checks the invariant in one snapshot after another (each a state at
    some commit boundary) until stop is set, and once more after."""
    conn = connect()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        while True:
            last = stop.is_set()
            with conn.transaction():
                rows = conn.execute(INVARIANT, (tenant_ids,)).fetchall()
            with out.lock:
                out.snapshots += 1
                out.violations.extend(rows)
            if last:
                return
            time.sleep(0.01)
    finally:
        conn.close()


def topper(connect: Callable[[], psycopg.Connection], tenants: list[Tenant], top_up: int, seed: int,
           stop: threading.Event, out: Outcome) -> None:
    """The tenants' administrators raise a tenant budget by top_up PSU now
    and then while the charges run (a Boost Pack bought), so that budgets
    run out, refill and run out again."""
    rng = random.Random(seed)
    conn = connect()
    try:
        while not stop.is_set():
            tenant = rng.choice(tenants)
            try:
                with conn.transaction():
                    conn.execute("select odl.odl_set_context(%s, %s)", (tenant.tenant_id, tenant.admin_id))
                    conn.execute(
                        "select odl.odl_psu_grant(b.granted + %s) from odl.odl_psu_balance() as b "
                        "where b.scope = 'tenant'",
                        (top_up,),
                    )
                with out.lock:
                    out.top_ups += 1
            except psycopg.Error as error:
                with out.lock:
                    out.errors.append(f"top-up of {tenant.tenant_id}: {error.sqlstate} {error}")
            time.sleep(0.02)
    finally:
        conn.close()


def run(
    connect_app: Callable[[], psycopg.Connection], connect_super: Callable[[], psycopg.Connection],
    tenants: list[Tenant], connections: int, operations: int, seed: int = 13, top_up: int = 20,
) -> Outcome:
    out = Outcome()
    stop = threading.Event()
    tenant_ids = [t.tenant_id for t in tenants]
    watch = threading.Thread(target=sampler, args=(connect_super, tenant_ids, stop, out))
    watch.start()
    grants = threading.Thread(target=topper, args=(connect_app, tenants, top_up, seed, stop, out))
    grants.start()
    workers = [
        threading.Thread(target=client, args=(connect_app, tenants, operations, seed + i, out))
        for i in range(connections)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    watch.join()
    grants.join()
    return out


def final_problems(conn: psycopg.Connection, tenants: list[Tenant], out: Outcome) -> list[str]:
    """Overshoot, lost and double charges, and aborted charges that stuck."""
    problems = list(out.errors) + list(out.retry_mismatches)
    problems += [f"invariant broken in a snapshot: {v}" for v in out.violations]
    ids = [t.tenant_id for t in tenants]
    ledger = {
        key: (entry, amount, tenant)
        for key, entry, amount, tenant in conn.execute(
            """
            select r.idempotency_key, coalesce(c.entry_id, r.entry_id), coalesce(c.consumed_delta, r.consumed_delta),
                   r.tenant_id
            from odl.psu_ledger as r
            left join odl.psu_ledger as c
                on c.tenant_id = r.tenant_id and c.reservation_id = r.reservation_id and c.kind = 'consume'
            where r.tenant_id = any(%s) and r.kind in ('charge', 'reserve')
            """,
            (ids,),
        ).fetchall()
    }
    for key, seen in out.committed.items():
        if ledger.get(key) != seen:
            problems.append(f"lost or altered: {key} committed as {seen}, ledger {ledger.get(key)}")
    for key in set(ledger) - set(out.committed):
        problems.append(f"in the ledger but never committed for a client: {key}")
    for key in out.aborted & set(ledger):
        problems.append(f"an aborted charge stayed: {key}")
    charged = {t: 0 for t in ids}
    for _, amount, tenant in out.committed.values():
        charged[tenant] += amount
    for t in tenants:
        granted, consumed, reserved = conn.execute(
            "select granted, consumed, reserved from odl.psu_budgets where tenant_id = %s and user_id is null",
            (t.tenant_id,),
        ).fetchone()
        if consumed != charged[t.tenant_id] or reserved != 0:
            problems.append(f"tenant {t.tenant_id}: consumed {consumed}, reserved {reserved}, "
                            f"clients committed {charged[t.tenant_id]}")
        if consumed > granted:
            problems.append(f"overshoot: tenant {t.tenant_id} consumed {consumed} of {granted}")
        if t.user_granted is not None:
            used = conn.execute(
                "select consumed from odl.psu_budgets where tenant_id = %s and user_id = %s",
                (t.tenant_id, t.user_id),
            ).fetchone()[0]
            if used > t.user_granted:
                problems.append(f"overshoot: user of {t.tenant_id} consumed {used} of {t.user_granted}")
    return problems
