"""Retention of the monthly-partitioned logs (issue 15): 24 months of audit
events, 12 of them anchored and dropped in under a second, the chains still
verifying from the anchors, and tampering in a kept month still found at
its seq. Each test plants its data in a transaction of a superuser and
rolls it back, so the tests share the session's database and need no order."""

from __future__ import annotations

import time

import psycopg
import pytest

from conftest import server_conninfo

PER_MONTH = 100
MONTHS = 24

# Two tenants, 24 complete months before the current one, PER_MONTH events a
# month each, chained and signed exactly as odl.audit_write() does.
PLANT = """
do $$
declare
    t text;
    tenants text[];
    head_seq bigint;
    head_hash bytea;
    at timestamptz;
    h bytea;
    ev text;
    signing_key integer := (select k.key_id from odl.audit_keys as k where k.retired_at is null);
    month0 timestamptz := (date_trunc('month', now() at time zone 'UTC') - interval '24 months') at time zone 'UTC';
begin
    perform partman.create_partition_time('odl.audit_events',
        array(select month0 + make_interval(months => i) from generate_series(0, 23) as i));
    perform odl.audit_protect_partitions();
    with ins as (insert into odl.tenants (name, region) values ('ret a', 'EU'), ('ret b', 'EU') returning tenant_id)
    select array_agg(ins.tenant_id::text order by ins.tenant_id) into tenants from ins;
    foreach t in array tenants loop
        head_seq := 0;
        head_hash := decode(repeat('00', 32), 'hex');
        for m in 0..23 loop
            for k in 0..%(per_month)s - 1 loop
                head_seq := head_seq + 1;
                at := month0 + make_interval(months => m) + make_interval(secs => k * 60 + 1);
                ev := odl.audit_event_id();
                h := sha256(head_hash || timestamptz_send(at) || convert_to(concat_ws(
                    '|', head_seq, t, ev, '', '', '', 'test.planted', format('{"m": %%s, "k": %%s}', m, k)), 'UTF8'));
                insert into odl.audit_events (tenant_id, seq, created_at, event_id, action, payload, prev_hash, hash,
                    key_id, signature)
                values (t, head_seq, at, ev, 'test.planted', format('{"m": %%s, "k": %%s}', m, k)::json, head_hash, h,
                    signing_key, odl.audit_hmac(signing_key, h));
                head_hash := h;
            end loop;
        end loop;
        insert into odl.audit_heads (tenant_id, seq, hash, created_at) values (t, head_seq, head_hash, at);
    end loop;
end
$$
""" % {"per_month": PER_MONTH}


@pytest.fixture
def su(dbname):
    """A superuser's transaction (retention and partitions need one), rolled back:
    the session's database is left as it was."""
    with psycopg.connect(server_conninfo(dbname=dbname, user="postgres")) as conn:
        yield conn
        conn.rollback()


def plant(conn) -> list[str]:
    conn.execute(PLANT)
    return [r[0] for r in conn.execute(
        "select tenant_id from odl.tenants where name in ('ret a', 'ret b') order by tenant_id"
    ).fetchall()]


def verify(conn, tenant: str) -> dict:
    return conn.execute("select odl.odl_audit_verify(%s)", (tenant,)).fetchone()[0]


def retire(conn, keep_months: int, table: str = "odl.audit_events", lock_timeout: str = "5 seconds") -> float:
    conn.execute(
        "update odl.log_retention_policies set keep_months = %s where table_name = %s", (keep_months, table)
    )
    started = time.perf_counter()
    conn.execute("call odl.log_retention(%s)", (lock_timeout,))
    return time.perf_counter() - started


def test_twelve_of_24_months_are_dropped_in_under_a_second_and_every_chain_still_verifies(su):
    tenants = plant(su)
    for tenant in tenants:
        assert verify(su, tenant) == {"ok": True, "checked": MONTHS * PER_MONTH, "first_broken_seq": None,
                                      "reason": None}
    assert su.execute("select months_to_retire from odl.log_partition_status() "
                      "where table_name = 'odl.audit_events'").fetchone()[0] == 0

    elapsed = retire(su, keep_months=12)

    assert elapsed < 1.0, f"retiring 12 months took {elapsed:.3f} s"
    assert su.execute("select count(*), sum(events), sum(anchors) from odl.audit_retired_partitions").fetchone() == (
        12, 12 * PER_MONTH * len(tenants), 12 * len(tenants)
    )
    # Every anchor names the last event of its month; the latest stands at seq 12 * PER_MONTH.
    assert su.execute(
        "select tenant_id, max(seq), count(*) from odl.audit_anchors group by tenant_id order by tenant_id"
    ).fetchall() == [(t, 12 * PER_MONTH, 12) for t in tenants]
    assert su.execute(
        "select count(*) from odl.audit_events where tenant_id = any(%s)", (tenants,)
    ).fetchone()[0] == 12 * PER_MONTH * len(tenants)
    for tenant in tenants:
        assert verify(su, tenant) == {"ok": True, "checked": 12 * PER_MONTH, "first_broken_seq": None,
                                      "reason": None}
    # The retired months are not missing partitions (other tests of the
    # session may have dropped one of their own for real).
    retired = {r[0] for r in su.execute("select partition_name from odl.audit_retired_partitions").fetchall()}
    missing = su.execute("select missing_partitions from odl.audit_partition_status()").fetchone()[0]
    assert len(retired) == 12 and not retired & set(missing)
    # A kept month dropped by hand, unanchored, is still missing.
    oldest_kept = su.execute(
        "select partition_name from odl.log_partitions() "
        "where table_name = 'odl.audit_events' and range_start is not null order by range_start limit 1"
    ).fetchone()[0]
    su.execute("savepoint before_drop")
    su.execute(f"alter table odl.audit_events detach partition {oldest_kept}")
    su.execute(f"drop table {oldest_kept}")
    assert oldest_kept in su.execute("select missing_partitions from odl.audit_partition_status()").fetchone()[0]
    assert verify(su, tenants[0]) == {
        "ok": False, "checked": 11 * PER_MONTH, "first_broken_seq": 12 * PER_MONTH + 1, "reason": "event missing"
    }
    su.execute("rollback to savepoint before_drop")
    # Appending goes on from the head, and the chain still verifies.
    su.execute("select odl.audit_write(%s, null, 'test.after', '{}', null, null)", (tenants[0],))
    assert verify(su, tenants[0])["ok"] is True
    assert verify(su, tenants[0])["checked"] == 12 * PER_MONTH + 1


def test_tampering_in_a_retained_month_is_found_at_its_seq(su):
    tenants = plant(su)
    retire(su, keep_months=12)
    tampered = 12 * PER_MONTH + 345
    su.execute("set local session_replication_role = replica")
    su.execute(
        "update odl.audit_events set payload = '{\"m\": 99}' where tenant_id = %s and seq = %s", (tenants[1], tampered)
    )
    su.execute("set local session_replication_role = origin")
    assert verify(su, tenants[1]) == {
        "ok": False, "checked": 12 * PER_MONTH, "first_broken_seq": tampered, "reason": "payload changed"
    }
    assert verify(su, tenants[0])["ok"] is True


def test_the_first_kept_event_is_checked_against_the_anchor(su):
    """Removing the first kept event, or forging the anchor, is found."""
    tenants = plant(su)
    retire(su, keep_months=12)
    first_kept = 12 * PER_MONTH + 1
    su.execute("savepoint s")
    su.execute("set local session_replication_role = replica")
    su.execute("delete from odl.audit_events where tenant_id = %s and seq = %s", (tenants[0], first_kept))
    assert verify(su, tenants[0]) == {
        "ok": False, "checked": 12 * PER_MONTH - 1, "first_broken_seq": first_kept, "reason": "event missing"
    }
    su.execute("rollback to savepoint s")
    # The anchors are append-only even to their owner; a superuser with
    # triggers off could still rewrite one, and its signature then fails.
    su.execute("alter table odl.audit_anchors disable row level security")
    su.execute(
        "update odl.audit_anchors set hash = sha256('x') where tenant_id = %s and seq = %s",
        (tenants[0], 12 * PER_MONTH),
    )
    result = verify(su, tenants[0])
    assert result["ok"] is False
    assert result["first_broken_seq"] == 12 * PER_MONTH
    assert result["reason"] == "forged anchor"


def test_a_month_that_does_not_verify_is_never_anchored_or_dropped(su):
    tenants = plant(su)
    su.execute("set local session_replication_role = replica")
    su.execute("update odl.audit_events set payload = '{}' where tenant_id = %s and seq = 150", (tenants[0],))
    su.execute("set local session_replication_role = origin")
    su.execute("savepoint s")
    with pytest.raises(psycopg.Error) as refused:
        retire(su, keep_months=12)
    assert refused.value.sqlstate == "ODT01"
    assert f"tenant_id {tenants[0]}, seq 150" in refused.value.diag.message_detail
    su.execute("rollback to savepoint s")
    assert su.execute("select count(*) from odl.audit_anchors").fetchone()[0] == 0
    assert su.execute(
        "select count(*) from odl.log_partitions() where table_name = 'odl.audit_events'"
    ).fetchone()[0] == MONTHS + 6


def test_only_the_oldest_complete_month_may_be_anchored(su):
    plant(su)
    with pytest.raises(psycopg.Error) as refused:
        su.execute(
            "select odl.audit_anchor_month(partition_name) from odl.log_partitions() "
            "where table_name = 'odl.audit_events' and range_start is not null order by range_start offset 1 limit 1"
        )
    assert refused.value.sqlstate == "ODT02"


def test_other_logs_drop_whole_months_and_a_held_lock_times_out_without_dropping_anything(su, dbname):
    traces = "select count(*) from odl.log_partitions() where table_name = 'odl.tool_call_traces'"
    before = su.execute(traces).fetchone()[0]
    su.execute("update odl.log_retention_policies set keep_months = 2 where table_name = 'odl.tool_call_traces'")
    to_retire = su.execute(
        "select months_to_retire from odl.log_partition_status() where table_name = 'odl.tool_call_traces'"
    ).fetchone()
    su.execute("savepoint s")
    with psycopg.connect(server_conninfo(dbname=dbname, user="postgres")) as reader:
        reader.execute("lock table odl.tool_call_traces in access share mode")
        started = time.perf_counter()
        with pytest.raises(psycopg.errors.LockNotAvailable):
            su.execute("call odl.log_retention('200 milliseconds')")
        assert time.perf_counter() - started < 2
        reader.rollback()
    su.execute("rollback to savepoint s")
    assert su.execute(traces).fetchone()[0] == before
    su.execute("call odl.log_retention()")
    assert to_retire[0] > 0
    assert su.execute(traces).fetchone()[0] == before - to_retire[0]
