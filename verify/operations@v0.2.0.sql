-- Verify odl-db:operations on pg

select 'odl.odl_health(interval, interval, interval, double precision)'::regprocedure;
select 'odl.odl_settings()'::regprocedure;
-- The ledger's facts come from odl_ledger's definer functions.
select 1 / (count(*) = 2)::int
from pg_catalog.pg_proc
where
    oid in ('odl.audit_export_status()'::regprocedure, 'odl.audit_partition_status()'::regprocedure)
    and prosecdef
    and proowner = 'odl_ledger'::regrole;
select 1 / pg_catalog.has_function_privilege(
    'odl_admin', 'odl.odl_health(interval, interval, interval, double precision)', 'EXECUTE'
)::int;
