-- Verify odl-db:psu_ledger_v2 on pg

select
    tenant_id, entry_id, created_at, kind, user_id, tenant_budget_id, user_budget_id, consumed_delta, reserved_delta,
    reservation_id, idempotency_key, tool, project_id, tenant_remaining, user_remaining
from odl.psu_ledger where false;
select tenant_id, idempotency_key, entry_id, created_at from odl.psu_ledger_keys where false;
-- Partitioned, with its partitions made, under forced RLS like the key table.
select 1 / (relkind = 'p')::int from pg_catalog.pg_class where oid = 'odl.psu_ledger'::regclass;
select 1 / (count(*) > 1)::int from pg_catalog.pg_inherits where inhparent = 'odl.psu_ledger'::regclass;
select 1 / (count(*) = 2)::int
from pg_catalog.pg_class
where
    oid in ('odl.psu_ledger'::regclass, 'odl.psu_ledger_keys'::regclass)
    and relrowsecurity and relforcerowsecurity and relowner = 'odl_owner'::regrole;
select 1 / count(*) from odl.log_retention_policies where table_name = 'odl.psu_ledger' and keep_months >= 84;
-- Traces reference their charge through the key table.
select 1 / count(*)
from pg_catalog.pg_constraint
where
    conname = 'tool_call_traces_tenant_id_odl_psu_entry_id_fkey' and confrelid = 'odl.psu_ledger_keys'::regclass
    and conrelid = 'odl.tool_call_traces'::regclass;
