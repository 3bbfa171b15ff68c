"""odl_health(), as a DBA's login calls it: every check reports what it
should, and the conditions it watches for, provoked for real (a long
transaction, a held snapshot, a chain no digest covers, a missing or
overflowing audit partition, dead document versions, a security finding),
turn its status from ok to warning or critical and back."""

from __future__ import annotations

import importlib.util
import os
import time
import uuid
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from conftest import TOP, TenantAccess, create_database, drop_database, server_conninfo, sqitch

CHECKS = [
    "audit_digest_export", "audit_partitions", "log_partitions", "function_latency", "backups", "change_feed_horizon", "vacuum_horizon", "document_bloat",
    "document_cache", "limits", "token_mode", "security_audit", "session_contexts",
]


@pytest.fixture(scope="module")
def opsdb():
    """A database of its own: the checks look at the whole database (every
    chain, the documents table), which other tests' data would blur."""
    name = create_database("odl_ops")
    result = sqitch("deploy", name, "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    yield name
    drop_database(name)


def superuser(dbname: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(server_conninfo(dbname=dbname, user="postgres"), **kwargs)


@pytest.fixture(scope="module")
def logins(opsdb):
    """Two DBA logins as the README makes them (login in role odl_admin), one
    with pg_monitor and one without, and an application login."""
    names = {kind: f"ops_{kind}_{uuid.uuid4().hex[:6]}" for kind in ("dba", "plain_dba", "app")}
    with superuser(opsdb, autocommit=True) as su:
        su.execute(sql.SQL("create role {} login in role odl_admin").format(sql.Identifier(names["dba"])))
        su.execute(sql.SQL("grant pg_monitor to {}").format(sql.Identifier(names["dba"])))
        su.execute(sql.SQL("create role {} login in role odl_admin").format(sql.Identifier(names["plain_dba"])))
        su.execute(sql.SQL("create role {} login in role odl_app").format(sql.Identifier(names["app"])))
    yield names
    with superuser(opsdb, autocommit=True) as su:
        for name in names.values():
            su.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def health(conn: psycopg.Connection, **thresholds) -> dict[str, dict]:
    """odl_health() as {check_name: {status, value, hint}}."""
    args = sql.SQL(", ").join(
        sql.SQL("{} => {}").format(sql.Identifier(name), sql.Literal(value)) for name, value in thresholds.items()
    )
    rows = conn.execute(sql.SQL("select * from odl.odl_health({})").format(args)).fetchall()
    report = {name: {"status": status, "value": value, "hint": hint} for name, status, value, hint in rows}
    assert len(report) == len(rows), "a check reported twice"
    return report


@pytest.fixture
def dba(opsdb, logins):
    with psycopg.connect(server_conninfo(dbname=opsdb, user=logins["dba"]), autocommit=True) as conn:
        yield conn


def test_a_dba_login_gets_every_check_and_all_is_well_on_a_fresh_database(dba):
    report = health(dba)
    assert list(report) == CHECKS
    # Nothing counts function calls in the test cluster (no pg_stat_statements,
    # track_functions none), and no backup was ever recorded: both say so.
    assert {check: row["status"] for check, row in report.items()} == dict.fromkeys(CHECKS, "ok") | {
        "function_latency": "unknown", "backups": "warning",
    }
    assert report["function_latency"]["value"]["source"] is None
    assert "no backup is recorded" in report["backups"]["hint"]
    assert all(row["hint"] for row in report.values())
    assert report["token_mode"]["value"] == {"require_context_token": "off"}
    limits = dict(dba.execute("select name, value from odl.odl_limits()").fetchall())
    assert report["limits"]["value"] == limits
    assert report["audit_partitions"]["value"]["missing_partitions"] == []
    assert report["audit_partitions"]["value"]["days_ahead"] > 30


def test_only_the_dba_role_may_call_it(opsdb, logins):
    with psycopg.connect(server_conninfo(dbname=opsdb, user=logins["app"])) as app:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("select * from odl.odl_health()")
        app.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("select * from odl.audit_export_status()")


def test_a_long_transaction_holding_an_xid_is_critical_until_it_ends(opsdb, dba):
    with superuser(opsdb) as long:
        long.execute("select pg_current_xact_id()")
        pid = long.info.backend_pid
        time.sleep(1.5)
        row = health(dba, transaction_age="1 second")["change_feed_horizon"]
        assert row["status"] == "critical"
        assert row["value"]["pid"] == pid
        assert row["value"]["seconds"] >= 1
        assert f"pid {pid}" in row["hint"]
        # Within the threshold the same transaction is no alarm.
        assert health(dba, transaction_age="1 hour")["change_feed_horizon"]["status"] == "ok"
        long.rollback()
    assert health(dba, transaction_age="1 second")["change_feed_horizon"]["status"] == "ok"


def test_without_pg_monitor_a_hidden_transaction_is_unknown_not_ok(opsdb, logins):
    with superuser(opsdb) as long, psycopg.connect(
        server_conninfo(dbname=opsdb, user=logins["plain_dba"]), autocommit=True
    ) as plain:
        long.execute("select pg_current_xact_id()")
        time.sleep(1.5)
        row = health(plain, transaction_age="1 second")["change_feed_horizon"]
        assert row["status"] == "unknown"
        assert row["value"]["seconds"] is None
        assert "pg_monitor" in row["hint"]
        long.rollback()


def test_a_held_snapshot_warns_of_vacuum(opsdb, dba):
    with superuser(opsdb) as reader:
        reader.execute("set transaction isolation level repeatable read")
        reader.execute("select count(*) from pg_class")
        time.sleep(1.5)
        row = health(dba, transaction_age="1 second")["vacuum_horizon"]
        assert row["status"] == "warning"
        assert row["value"]["pid"] == reader.info.backend_pid
        reader.rollback()
    assert health(dba, transaction_age="1 second")["vacuum_horizon"]["status"] == "ok"


def test_events_no_exported_digest_covers_are_critical_once_older_than_the_threshold(opsdb, dba):
    dba.execute("set role odl_admin")
    tenant_id = dba.execute("select odl.odl_create_tenant(%s, 'EU')", (f"ops-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
    dba.execute("reset role")
    first_event = dba.execute(
        "select uncovered_since from odl.audit_export_status() where tenant_id = %s", (tenant_id,)
    ).fetchone()[0]
    assert first_event is not None
    time.sleep(1.5)
    row = health(dba, export_age="1 second")["audit_digest_export"]
    assert row["status"] == "critical"
    assert row["value"]["chains_behind"] >= 1
    assert row["value"]["uncovered_seconds"] >= 1
    assert "scripts/export-digests" in row["hint"]
    assert health(dba, export_age="1 hour")["audit_digest_export"]["status"] == "ok"

    exported = dba.execute("select d from odl.odl_audit_export_digests() as d").fetchall()
    assert any(d["tenant_id"] == tenant_id for (d,) in exported)
    row = health(dba, export_age="1 second")["audit_digest_export"]
    assert row["status"] == "ok"
    assert row["value"]["chains_behind"] == 0
    assert row["value"]["last_export"] is not None


def test_audit_partitions_missing_or_overflowing_or_running_out_are_reported(opsdb, dba, logins):
    assert health(dba, partitions_ahead="10 years")["audit_partitions"]["status"] == "warning"
    with superuser(opsdb) as su:
        # A superuser may drop a partition (the guard lets it): rolled back.
        newest = su.execute(
            "select partition_name from odl.audit_partitions order by range_end desc nulls last limit 1"
        ).fetchone()[0]
        su.execute(sql.SQL("drop table {}").format(sql.SQL(newest)))
        su.execute(sql.SQL("set local role {}").format(sql.Identifier(logins["dba"])))
        row = health(su)["audit_partitions"]
        assert row["status"] == "critical"
        assert row["value"]["missing_partitions"] == [newest]
        assert "backup" in row["hint"]
        su.rollback()

        # An event beyond the last partition lands in the default one.
        su.execute(
            """
            insert into odl.audit_events (
                tenant_id, seq, created_at, event_id, action, payload, prev_hash, hash, key_id, signature
            )
            values (odl.odl_ulid(), 1, now() + interval '20 years', odl.odl_ulid(), 'test.overflow', '{}',
                '\\x00', sha256('x'), 1, '\\x00')
            """
        )
        su.execute(sql.SQL("set local role {}").format(sql.Identifier(logins["dba"])))
        row = health(su)["audit_partitions"]
        assert row["status"] == "critical"
        assert row["value"]["default_partition_rows"] == 1
        assert "odl.audit_maintenance()" in row["hint"]
        su.rollback()


def test_dead_document_versions_beyond_the_ratio_are_bloat(opsdb, logins, dba):
    with superuser(opsdb, autocommit=True) as su:
        # Autovacuum would clean up behind the test's back.
        su.execute("alter table odl.odl_documents set (autovacuum_enabled = off, toast.autovacuum_enabled = off)")
        su.execute("vacuum odl.odl_documents")
    try:
        admin_conn = psycopg.connect(server_conninfo(dbname=opsdb, user="postgres"))
        with admin_conn:
            admin_conn.execute("set role odl_admin")
            tenant_id = admin_conn.execute(
                "select odl.odl_create_tenant(%s, 'EU')", (f"bloat-{uuid.uuid4().hex[:6]}",)
            ).fetchone()[0]
            user_id = admin_conn.execute(
                "select odl.odl_create_user(%s, %s, 'engineer')", (tenant_id, f"{uuid.uuid4().hex[:6]}@example.com")
            ).fetchone()[0]
        access = TenantAccess(opsdb, (tenant_id, user_id))
        access.assign("super_user", access.admin_id)
        with psycopg.connect(server_conninfo(dbname=opsdb, user=logins["app"]), autocommit=True) as app:
            def in_context(query: str, params: tuple):
                with app.transaction():
                    app.execute("select odl.odl_set_context(%s, %s)", (tenant_id, access.admin_id))
                    return app.execute(query, params).fetchone()[0]

            project_id = in_context("select odl.odl_create_project(%s)", ("bloat",))
            access.attach(project_id)
            doc_id = in_context("select odl.odl_create_document(%s, %s)", (project_id, Jsonb({
                "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
                "schema_version": "4.1",
                "meta": {"project": "bloat", "domain": "PV", "scale": "UTILITY"},
                "hierarchy": {"id": "PF-1", "type": "PORTFOLIO", "name": "bloat", "children": []},
                "instances": [],
            })))
            for version in range(1, 81):
                in_context(
                    "select outcome from odl.odl_apply_patch(%s, %s, %s)",
                    # Random text, so that every version is stored in TOAST.
                    (doc_id, Jsonb([{"op": "replace", "path": "/meta/project", "value": os.urandom(3000).hex()}]),
                     version),
                )
        # The writer's statistics reach the cumulative stats when it exits;
        # give the stats a moment either way.
        for _ in range(50):
            row = health(dba)["document_bloat"]
            if row["status"] == "warning":
                break
            time.sleep(0.1)
        assert row["status"] == "warning", row
        assert max(row["value"][table]["dead_tuples"] for table in ("odl_documents", "toast")) > 50
        assert "vacuum_horizon" in row["hint"]
        with superuser(opsdb, autocommit=True) as su:
            su.execute("vacuum odl.odl_documents")
        for _ in range(50):
            row = health(dba)["document_bloat"]
            if row["status"] == "ok":
                break
            time.sleep(0.1)
        assert row["status"] == "ok", row
    finally:
        with superuser(opsdb, autocommit=True) as su:
            su.execute("alter table odl.odl_documents reset (autovacuum_enabled, toast.autovacuum_enabled)")


def test_the_cache_budget_counts_each_application_backend_at_its_login_setting(opsdb, logins, dba):
    with superuser(opsdb, autocommit=True) as su:
        su.execute(sql.SQL("alter role {} set odl.document_cache_mb = 64").format(sql.Identifier(logins["app"])))
    try:
        apps = [psycopg.connect(server_conninfo(dbname=opsdb, user=logins["app"])) for _ in range(3)]
        try:
            value = health(dba)["document_cache"]["value"]
            assert value == {"application_backends": 3, "limit_mb_per_backend": [64], "worst_case_mb": 192}
        finally:
            for app in apps:
                app.close()
    finally:
        with superuser(opsdb, autocommit=True) as su:
            su.execute(sql.SQL("alter role {} reset odl.document_cache_mb").format(sql.Identifier(logins["app"])))


def test_a_security_finding_token_mode_and_session_contexts_show(opsdb, logins):
    with superuser(opsdb) as su:
        su.execute("grant execute on function odl.set_session_context(text, text) to odl_app")
        su.execute("update odl.settings set value = 'on' where name = 'require_context_token'")
        # A row v0.1.0 left behind.
        su.execute("insert into odl.session_contexts values (pg_backend_pid(), now(), odl.odl_ulid(), null)")
        su.execute(sql.SQL("set local role {}").format(sql.Identifier(logins["dba"])))
        report = health(su)
        assert report["security_audit"]["status"] == "critical"
        assert report["security_audit"]["value"]["kinds"] == ["app_privilege_beyond_api"]
        assert report["token_mode"]["value"] == {"require_context_token": "on"}
        assert report["session_contexts"]["status"] == "warning"
        assert report["session_contexts"]["value"]["bytes"] > 0
        assert "truncate odl.session_contexts" in report["session_contexts"]["hint"]
        su.rollback()


def test_every_logs_headroom_and_default_partition_rows_are_reported(opsdb, dba, logins):
    logs = {r[0]: r for r in dba.execute(
        "select table_name, months_ahead, default_rows, utc_months from odl.ops_log_partitions"
    ).fetchall()}
    assert set(logs) == {
        "odl.audit_events", "odl.epcis_events", "odl.ai_messages", "odl.tool_call_traces", "odl.psu_ledger"
    }
    assert all(row[1:] == (4, 0, True) for row in logs.values()), logs
    with superuser(opsdb) as su:
        # The two newest EPCIS months gone: two months ahead, and a warning
        # for that log alone once the threshold lies beyond its end.
        for (part,) in su.execute(
            "select partition_name from odl.log_partitions() where table_name = 'odl.epcis_events' "
            "order by range_start desc nulls last limit 2"
        ).fetchall():
            su.execute(sql.SQL("alter table odl.epcis_events detach partition {}").format(sql.SQL(part)))
        su.execute(sql.SQL("set local role {}").format(sql.Identifier(logins["dba"])))
        assert su.execute(
            "select months_ahead from odl.ops_log_partitions where table_name = 'odl.epcis_events'"
        ).fetchone()[0] == 2
        row = health(su, partitions_ahead="100 days")["log_partitions"]
        assert row["status"] == "warning"
        assert "odl.epcis_events end within" in row["hint"]
        assert "odl.audit_events" not in row["hint"]
        su.rollback()

        # A trace beyond every partition lands in the default one: critical.
        su.execute("set local session_replication_role = replica")
        su.execute(
            """
            insert into odl.tool_call_traces (tenant_id, span_id, start_time, end_time, trace_id, user_id,
                gen_ai_tool_name)
            values (odl.odl_ulid(), '0123456789abcdef', now() + interval '20 years', now() + interval '20 years',
                repeat('ab', 16), odl.odl_ulid(), 'test')
            """
        )
        su.execute(sql.SQL("set local role {}").format(sql.Identifier(logins["dba"])))
        row = health(su)["log_partitions"]
        assert row["status"] == "critical"
        assert row["value"]["default_partition_rows"] == 1
        assert "default partition of odl.tool_call_traces" in row["hint"]
        assert su.execute(
            "select default_rows from odl.ops_log_partitions where table_name = 'odl.tool_call_traces'"
        ).fetchone()[0] == 1
        su.rollback()


def test_latency_percentiles_come_from_the_sampled_intervals(opsdb, logins):
    """Planted samples of cumulative counters: intervals of 100 calls at 1 ms,
    800 at 2 ms and 100 at 10 ms, then a reset (skipped): p50 2 ms, p95 10 ms."""
    with superuser(opsdb) as su:
        su.execute(
            """
            insert into odl.function_timing_samples (function_name, sampled_at, source, calls, total_ms)
            values
                ('odl_planted', now() - interval '4 minutes', 'pg_stat_user_functions', 1000, 5000),
                ('odl_planted', now() - interval '3 minutes', 'pg_stat_user_functions', 1100, 5100),
                ('odl_planted', now() - interval '2 minutes', 'pg_stat_user_functions', 1900, 6700),
                ('odl_planted', now() - interval '1 minute', 'pg_stat_user_functions', 2000, 7700),
                ('odl_planted', now(), 'pg_stat_user_functions', 3, 500),
                ('odl_planted', now() - interval '2 days', 'pg_stat_user_functions', 0, 0)
            """
        )
        su.execute(sql.SQL("set local role {}").format(sql.Identifier(logins["dba"])))
        assert su.execute(
            "select calls, mean_ms, p50_ms, p95_ms, intervals from odl.ops_function_latency "
            "where function_name = 'odl_planted'"
        ).fetchone() == (1000, Decimal("2.700"), Decimal("2.000"), Decimal("10.000"), 3)
        row = health(su)["function_latency"]
        assert row["value"]["functions"]["odl_planted"] == {"calls": 1000, "mean_ms": 2.7, "p50_ms": 2, "p95_ms": 10}
        su.rollback()


def test_the_sampler_reads_the_function_counters_when_track_functions_is_on(opsdb):
    with superuser(opsdb, autocommit=True) as su:
        try:
            assert su.execute("select odl.odl_sample_function_timings()").fetchone()[0] == 0
            su.execute("set track_functions = 'all'")
            assert su.execute("select odl.function_timings_source()").fetchone()[0] == "pg_stat_user_functions"
            for _ in range(3):
                su.execute("select odl.odl_health()")
            su.execute("select pg_stat_force_next_flush()")
            su.execute("select 1")
            assert su.execute("select odl.odl_sample_function_timings()").fetchone()[0] >= 1
            calls, total_ms = su.execute(
                "select calls, total_ms from odl.function_timing_samples where function_name = 'odl_health'"
            ).fetchone()
            assert calls >= 3 and total_ms > 0
        finally:
            su.execute("delete from odl.function_timing_samples")


def test_backups_and_drills_as_recorded_turn_the_check(opsdb, logins):
    with superuser(opsdb) as su:
        su.execute(sql.SQL("set local role {}").format(sql.Identifier(logins["dba"])))
        su.execute("select odl.odl_record_backup('backup', true)")
        row = health(su)["backups"]
        assert (row["status"], row["value"]["drill_ok"]) == ("warning", None)
        assert "no restore drill" in row["hint"]
        su.execute("""select odl.odl_record_backup('drill', true, now(), '{"rpo_seconds": 1.4, "rto_seconds": 3.0}')""")
        row = health(su)["backups"]
        assert row["status"] == "ok"
        assert row["value"]["drill"] == {"rpo_seconds": 1.4, "rto_seconds": 3.0}
        assert row["value"]["backup_age_seconds"] < 60
        su.execute("""select odl.odl_record_backup('drill', false, now(), '{"failed": "pgbackrest verify"}')""")
        row = health(su)["backups"]
        assert (row["status"], row["value"]["drill_ok"]) == ("critical", False)
        assert su.execute("select kind, last_ok from odl.ops_backups order by kind").fetchall() == [
            ("backup", True), ("drill", False)
        ]
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            su.execute("select odl.odl_record_backup('snapshot', true)")
        su.rollback()

        su.execute(sql.SQL("set local role {}").format(sql.Identifier(logins["dba"])))
        su.execute("select odl.odl_record_backup('backup', true, now() - interval '2 days')")
        su.execute("select odl.odl_record_backup('drill', true)")
        row = health(su)["backups"]
        assert row["status"] == "warning"
        assert "older than 26 hours" in row["hint"]
        su.rollback()


def test_the_drill_records_its_result_where_the_check_reads_it(opsdb, logins):
    """scripts/drill --record calls record() with its summary (the drill itself
    runs in test_drill.py; here its result is a planted one)."""
    spec = importlib.util.spec_from_file_location("drill", TOP / "scripts" / "drill.py")
    drill = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(drill)
    summary = {"ok": True, "rpo_s": 1.4, "rto_s": 3.0, "finished_at": "2026-12-03T12:00:00+00:00"}
    run_id = drill.record(server_conninfo(dbname=opsdb, user=logins["dba"]), summary)
    try:
        with superuser(opsdb) as su:
            su.execute(sql.SQL("set local role {}").format(sql.Identifier(logins["dba"])))
            row = health(su)["backups"]
            assert row["value"]["drill_ok"] is True
            assert row["value"]["drill"] == {"rpo_s": 1.4, "rto_s": 3.0}
            assert row["value"]["last_drill"].startswith("2026-12-03T12:00:00")
    finally:
        with superuser(opsdb, autocommit=True) as su:
            su.execute("delete from odl.backup_runs where run_id = %s", (run_id,))
