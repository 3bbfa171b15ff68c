-- Verify odl-db:audit_api on pg

select 'odl.audit_append(text, jsonb, text, text)'::regprocedure;
select 'odl.audit_append_as(text, text, text, jsonb, text, text)'::regprocedure;
select 'odl.odl_audit_log(text, jsonb)'::regprocedure;
select 'odl.odl_audit_digest(text)'::regprocedure;
select 'odl.odl_audit_verify(text, jsonb)'::regprocedure;
select 'odl.odl_audit_since(text, bigint, integer)'::regprocedure;
select 'odl.odl_audit_rotate_key()'::regprocedure;
select 'odl.odl_audit_export_digests()'::regprocedure;
select 'odl.audit_maintenance()'::regprocedure;
select 1 / (count(*) = 2)::int from odl.error_codes where sqlstate in ('ODA01', 'ODA02');
select 1 / (count(*) = 1)::int from odl.audit_keys where retired_at is null;
-- Both append-only triggers are on the parent.
select 1 / (count(*) = 2)::int
from pg_catalog.pg_trigger
where tgrelid = 'odl.audit_events'::regclass and tgname in ('audit_events_append_only', 'audit_events_append_only_row');
-- The signing functions belong to odl_signer, the append path and verification to odl_ledger.
select 1 / (count(*) = 3)::int
from pg_catalog.pg_proc
where
    pronamespace = 'odl'::regnamespace
    and proname in ('audit_hmac', 'audit_sign', 'odl_audit_rotate_key')
    and proowner = 'odl_signer'::regrole;
select 1 / (count(*) = 3)::int
from pg_catalog.pg_proc
where
    pronamespace = 'odl'::regnamespace
    and proname in ('audit_write', 'audit_verify_chain', 'odl_audit_export_digests')
    and proowner = 'odl_ledger'::regrole
    and prosecdef;
select 1 / (count(*) > 0)::int from odl.audit_partitions;
-- Verification starts from the latest retention anchor.
select 1 / (prosrc like '%audit_chain_base%')::int
from pg_catalog.pg_proc
where oid = 'odl.audit_verify_chain(text, jsonb)'::regprocedure;
