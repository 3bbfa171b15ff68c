"""The sqitch project deploys, verifies, reverts to nothing and deploys again,
and every verify script notices a missing object."""

import subprocess

import psycopg
import pytest

from conftest import TOP, create_database, drop_database, server_conninfo, sqitch
import srcguard

LEFTOVERS = """
select 'schema ' || nspname from pg_namespace
where nspname not in ('public', 'information_schema', 'sqitch') and nspname not like 'pg\\_%'
union all
select 'extension ' || extname from pg_extension where extname <> 'plpgsql'
union all
select 'relation ' || oid::regclass::text from pg_class
where relnamespace = 'public'::regnamespace
union all
select 'function ' || oid::regprocedure::text from pg_proc
where pronamespace = 'public'::regnamespace
union all
select 'type ' || oid::regtype::text from pg_type
where typnamespace = 'public'::regnamespace
"""


def test_deploy_revert_redeploy_leaves_nothing_behind():
    name = create_database("odl_roundtrip")
    try:
        for step in (("deploy", "--verify"), ("verify",), ("revert", "-y")):
            result = sqitch(step[0], name, *step[1:])
            assert result.returncode == 0, result.stdout + result.stderr

        with psycopg.connect(server_conninfo(dbname=name)) as conn:
            assert conn.execute(LEFTOVERS).fetchall() == []
            deployed = conn.execute("select count(*) from sqitch.changes").fetchone()[0]
            assert deployed == 0

        for step in (("deploy", "--verify"), ("verify",)):
            result = sqitch(step[0], name, *step[1:])
            assert result.returncode == 0, result.stdout + result.stderr
        with psycopg.connect(server_conninfo(dbname=name)) as conn:
            assert conn.execute("select * from odl.odl_security_audit()").fetchall() == []
            assert srcguard.deployed_differences(conn) == []
    finally:
        drop_database(name)


# One statement per change that removes something its verify script checks.
BREAKAGE = {
    "roles": "alter role odl_analyst rename to odl_analyst_gone",
    "schema": "alter schema odl rename to odl_gone",
    "ownership": "drop procedure odl.adopt_objects()",
    "extensions": "drop extension jsonb_plpython3u cascade",
    "python": "drop table odl.python_modules",
    "python_loader": "drop function odl.python_boot()",
    "ulid": "drop function odl.odl_ulid_time(text)",
    "limits": "drop function odl.check_limit(text, bigint, text)",
    "deploy_guard": "alter event trigger odl_routine_ddl_guard disable",
    "identity": "alter table odl.login_bindings no force row level security",
    "identity_api": "drop function odl.odl_bind_login(text, text)",
    "sessions": "alter table odl.session_contexts no force row level security",
    "context": "drop function odl.odl_set_context(text, text)",
    "tenancy": "alter table odl.projects no force row level security",
    "tenancy_api": "drop view odl.project_summary",
    "canonical": "drop function odl.odl_content_hash(jsonb)",
    "security_audit": "drop function odl.odl_security_audit()",
    "documents": "alter table odl.odl_patches no force row level security",
    "documents_api": "drop function odl.odl_jsonpatch_inverse(jsonb, jsonb)",
    "documents_v2": "alter table odl.odl_documents alter column doc_json set compression pglz",
    "odl_sd_schema": "delete from odl.json_schemas",
    "audit": "alter table odl.audit_events no force row level security",
    "audit_api": "drop function odl.odl_audit_verify(text, jsonb)",
    "ledger_v2": "alter table odl.audit_keys owner to odl_owner",
    "policy": "alter table odl.rbac_roles drop column clearance",
    "policy_load": "refresh materialized view odl.rbac_role_rights with no data",
    "access": "alter table odl.change_requests no force row level security",
    "access_api": "drop function odl.odl_check_action(text, text)",
    "change_notify": "drop trigger rbac_assignments_notify_rights on odl.rbac_assignments",
    "analyst_views": "alter view odl.analyst_patches reset (security_barrier)",
    "operations": "alter function odl.audit_export_status() owner to odl_owner",
    "procurement": "alter table odl.stock_balances drop constraint stock_balances_never_negative",
    "procurement_api": "drop trigger stock_moves_apply on odl.stock_moves",
    "graph": "alter table odl.graph_edges no force row level security",
    "graph_api": "drop function odl.odl_graph_path(text, text, text, text[], integer, integer)",
    "epcis": "alter table odl.epcis_event_epcs no force row level security",
    "epcis_api": "drop function odl.odl_capture_epcis(text, jsonb)",
    "components": "alter table odl.component_index no force row level security",
    "components_api": "delete from odl.document_projectors where projector = 'components'",
    "monetisation": "alter table odl.psu_budgets drop constraint psu_budgets_balance",
    "monetisation_api": "alter view odl.analyst_psu_usage reset (security_barrier)",
    "traces": "alter table odl.tool_call_traces no force row level security",
    "traces_api": "drop procedure odl.trace_maintenance(interval)",
    "ai_memory": "alter table odl.cag_dependencies no force row level security",
    "ai_memory_api": "delete from odl.document_projectors where projector = 'cag_invalidation'",
    "traceability": "alter table odl.trace_links no force row level security",
    "traceability_api": "drop view odl.analyst_serials cascade",
    "retention": "alter table odl.audit_anchors no force row level security",
    "retention_api": "alter function odl.audit_anchor_month(text) owner to odl_owner",
    "observability": "alter table odl.backup_runs owner to postgres",
    "observability_api": "revoke execute on function odl.odl_record_backup(text, boolean, timestamptz, jsonb) from odl_admin",
    "regions": "alter table odl.tenant_departures no force row level security",
    "regions_api": "drop trigger tenants_region_guard on odl.tenants",
    "ai_lifecycle": "alter table odl.ai_sessions drop constraint ai_sessions_closed_reason",
    "ai_lifecycle_api": "drop trigger ai_sessions_guard on odl.ai_sessions",
    "billing": "alter table odl.invoice_lines no force row level security",
    "billing_api": "alter view odl.analyst_invoices reset (security_barrier)",
    "embeddings": "alter table odl.chunk_embeddings no force row level security",
    "embeddings_api": "delete from odl.document_projectors where projector = 'chunks'",
    "psu_ledger_v2": "alter table odl.psu_ledger_keys no force row level security",
    "psu_ledger_v2_api": "drop trigger psu_ledger_keys on odl.psu_ledger",
    "epcis_retention": "drop index odl.epcis_event_ids_record_month",
    "epcis_retention_api": "drop function odl.epcis_retire_month(timestamptz, timestamptz)",
    "external_refs": "alter table odl.document_blobs no force row level security",
    "external_refs_read": "revoke execute on function odl.document_json(odl.odl_documents) from odl_analyst",
    "external_refs_api": "revoke execute on function odl.odl_set_external(text, text, boolean, integer) from odl_app",
}


def test_every_change_has_a_breakage_case():
    assert sorted(BREAKAGE) == sorted(c.name for c in srcguard.read_plan().changes)


def run_verify(dbname: str, change: str, breakage: str = "") -> subprocess.CompletedProcess:
    script = f"begin;\n{breakage};\n\\i verify/{change}.sql\nrollback;\n"
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", server_conninfo(dbname=dbname)],
        input=script, cwd=TOP, capture_output=True, text=True,
    )


@pytest.mark.parametrize("change", sorted(BREAKAGE))
def test_verify_script_fails_when_an_object_is_missing(dbname, change):
    intact = run_verify(dbname, change)
    assert intact.returncode == 0, intact.stderr
    broken = run_verify(dbname, change, BREAKAGE[change])
    assert broken.returncode != 0
    assert "ERROR" in broken.stderr
