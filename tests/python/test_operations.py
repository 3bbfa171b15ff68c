"""odl_health(), as a DBA's login calls it: every check reports what it
should, and the conditions it watches for, provoked for real (a long
transaction, a held snapshot, a chain no digest covers, a missing or
overflowing audit partition, dead document versions, a security finding),
turn its status from ok to warning or critical and back."""

from __future__ import annotations

import os
import time
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from conftest import TenantAccess, create_database, drop_database, server_conninfo, sqitch

CHECKS = [
    "audit_digest_export", "audit_partitions", "change_feed_horizon", "vacuum_horizon", "document_bloat",
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
    assert {check: row["status"] for check, row in report.items()} == dict.fromkeys(CHECKS, "ok")
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
