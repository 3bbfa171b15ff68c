-- Verify odl-db:audit on pg

select key_id, inner_key, outer_key, created_at, retired_at from odl.audit_keys where false;
select tenant_id, seq, hash, prev_hash, created_at from odl.audit_heads where false;
select
    tenant_id, seq, created_at, event_id, project_id, doc_id, actor_id, action, payload,
    prev_hash, hash, key_id, signature
from odl.audit_events where false;
select 1 / (count(*) = 2)::int
from pg_catalog.pg_class as c
where
    c.oid in ('odl.audit_events'::regclass, 'odl.audit_heads'::regclass)
    and c.relrowsecurity
    and c.relforcerowsecurity
    and exists (select from pg_catalog.pg_policy as p where p.polrelid = c.oid);
-- Partitioned by created_at, with partitions, and the owner may not rewrite events.
select 1 / (count(*) = 1)::int from pg_catalog.pg_partitioned_table where partrelid = 'odl.audit_events'::regclass;
select 1 / (count(*) > 0)::int from pg_catalog.pg_inherits where inhparent = 'odl.audit_events'::regclass;
select 1 / (not has_table_privilege('odl_owner', 'odl.audit_events', 'UPDATE, DELETE, TRUNCATE'))::int;
