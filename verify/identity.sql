-- Verify odl-db:identity on pg

select key_id, purpose, inner_key, outer_key, created_at from odl.identity_keys where false;
select name, value, description from odl.settings where false;
select login, tenant_id, user_id, bound_by, bound_at from odl.login_bindings where false;
select 1 / (c.relrowsecurity and c.relforcerowsecurity)::int
from pg_catalog.pg_class as c where c.oid = 'odl.login_bindings'::regclass;
select 1 / count(*)::int from pg_catalog.pg_roles where rolname = 'odl_auth';
select 1 / (not has_table_privilege('odl_analyst', 'odl.users', 'select'))::int;
