-- Verify odl-db:ledger_v2 on pg

select partition_name, range_start, range_end, registered_at from odl.audit_partitions where false;
select tenant_id, seq, digest, issued_at from odl.audit_digests where false;
select 'odl_ledger.refuse_ledger_ddl()'::regprocedure;
select 1 / (count(*) = 2)::int
from pg_catalog.pg_event_trigger
where evtname in ('audit_ledger_drop_guard', 'audit_ledger_domain_guard') and evtenabled <> 'D';
-- The ledger's owners, and nobody else near the key.
select 1 / (count(*) = 1)::int
from pg_catalog.pg_class
where oid = 'odl.audit_keys'::regclass and relowner = 'odl_signer'::regrole;
select 1 / (count(*) = 2)::int
from pg_catalog.pg_class
where oid in ('odl.audit_events'::regclass, 'odl.audit_heads'::regclass) and relowner = 'odl_ledger'::regrole;
select 1 / (not has_table_privilege('odl_owner', 'odl.audit_keys', 'SELECT'))::int;
select 1 / (not has_table_privilege('odl_owner', 'odl.audit_events', 'INSERT, UPDATE, DELETE, TRUNCATE'))::int;
select 1 / (not has_table_privilege('odl_owner', 'odl.audit_heads', 'INSERT, UPDATE, DELETE, TRUNCATE'))::int;
select 1 / (not pg_has_role('odl_owner', 'odl_signer', 'member'))::int;
select 1 / (not pg_has_role('odl_owner', 'odl_ledger', 'member'))::int;
