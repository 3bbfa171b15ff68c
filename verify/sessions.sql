-- Verify odl-db:sessions on pg

select backend_pid, transaction_start, tenant_id, user_id from odl.session_contexts where false;
select 1 / count(*) from pg_catalog.pg_class
where oid = 'odl.session_contexts'::regclass and relrowsecurity and relforcerowsecurity;
