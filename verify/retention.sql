-- Verify odl-db:retention on pg

select tenant_id, seq, hash, event_time, month_end, key_id, signature, anchored_at
from odl.audit_anchors where false;
select partition_name, range_start, range_end, events, anchors, retired_at
from odl.audit_retired_partitions where false;
select table_name, keep_months from odl.log_retention_policies where false;
-- The anchors are the ledger's, under forced RLS.
select 1 / (count(*) = 2)::int
from pg_catalog.pg_class
where
    oid in ('odl.audit_anchors'::regclass, 'odl.audit_retired_partitions'::regclass)
    and relowner = 'odl_ledger'::regrole;
select 1 / (relrowsecurity and relforcerowsecurity)::int
from pg_catalog.pg_class where oid = 'odl.audit_anchors'::regclass;
select 1 / (count(*) = 4)::int from odl.log_retention_policies
where table_name in ('odl.audit_events', 'odl.epcis_events', 'odl.ai_messages', 'odl.tool_call_traces');
