"""PSU charges under concurrency: 64 connections charging tenants with tiny
budgets, 20% retries with the same idempotency key, 5% aborted
transactions, 10% reservations consumed, while administrators top budgets up:
no overshoot, no lost or double
charge, and granted = consumed + reserved + remaining in every snapshot
taken while they run. make test runs 64 x 25 operations (well under 40 s on
2 cores); benchmarks/bench_psu.py runs the full 64 x 1,000."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

from conftest import server_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psu_workload  # noqa: E402

CONNECTIONS = 64
OPERATIONS = 25


def test_concurrent_charges_never_overshoot_lose_or_double_count(dbname):
    with psycopg.connect(server_conninfo(dbname=dbname)) as admin:
        tenants = psu_workload.make_tenants(admin, count=6, granted=60, user_granted=25, prefix="psu-conc")
    out = psu_workload.run(
        lambda: psycopg.connect(server_conninfo(dbname=dbname, user="odl_app")),
        lambda: psycopg.connect(server_conninfo(dbname=dbname)),
        tenants, CONNECTIONS, OPERATIONS,
    )
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        problems = psu_workload.final_problems(conn, tenants, out)
    assert problems == []
    # The run did what it says: budgets ran out, retries and aborts happened,
    # and the sampler saw the ledger many times while it ran.
    assert out.refused > 0
    assert out.retries > CONNECTIONS * OPERATIONS * 0.1
    assert len(out.aborted) > 0
    assert out.snapshots > 3
    assert out.top_ups > 3
    assert sum(amount for _, amount, _ in out.committed.values()) > 0
