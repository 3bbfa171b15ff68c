-- Verify odl-db:retention_api on pg

select 'odl.log_retention(interval)'::regprocedure;
select 'odl.log_maintenance()'::regprocedure;
select 'odl.log_partition_status()'::regprocedure;
select 'odl.log_partitions()'::regprocedure;
select 'odl.audit_anchor_message(text, bigint, bytea, timestamptz)'::regprocedure;
-- The anchoring runs as the ledger, which alone signs.
select 1 / (count(*) = 2)::int
from pg_catalog.pg_proc
where
    oid in ('odl.audit_anchor_month(text)'::regprocedure, 'odl.audit_chain_base(text)'::regprocedure)
    and prosecdef
    and proowner = 'odl_ledger'::regrole;
select 1 / (count(*) = 2)::int from odl.error_codes where sqlstate in ('ODT01', 'ODT02');
