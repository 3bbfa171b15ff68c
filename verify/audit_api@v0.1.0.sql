-- Verify odl-db:audit_api on pg

select 'odl.audit_append(text, jsonb, text, text)'::regprocedure;
select 'odl.audit_append_as(text, text, text, jsonb, text, text)'::regprocedure;
select 'odl.odl_audit_log(text, jsonb)'::regprocedure;
select 'odl.odl_audit_digest(text)'::regprocedure;
select 'odl.odl_audit_verify(text, jsonb)'::regprocedure;
select 'odl.odl_audit_since(text, bigint, integer)'::regprocedure;
select 'odl.odl_audit_rotate_key()'::regprocedure;
select 'odl.audit_maintenance()'::regprocedure;
select 1 / (count(*) = 2)::int from odl.error_codes where sqlstate in ('ODA01', 'ODA02');
select 1 / (count(*) = 1)::int from odl.audit_keys where retired_at is null;
-- Both append-only triggers are on the parent.
select 1 / (count(*) = 2)::int
from pg_catalog.pg_trigger
where tgrelid = 'odl.audit_events'::regclass and tgname in ('audit_events_append_only', 'audit_events_append_only_row');
