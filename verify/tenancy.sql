-- Verify odl-db:tenancy on pg

select 'odl.ulid'::regtype;
select tenant_id, name, region, created_at from odl.tenants where false;
select tenant_id, user_id, email, role, mfa_enabled, agent, created_at from odl.users where false;
select tenant_id, project_id, name, phase, classification, created_by, created_at
from odl.projects where false;

-- RLS enabled and forced, with a policy, on each tenant table.
select 1 / (count(*) = 3)::int
from pg_catalog.pg_class as c
where
    c.oid in ('odl.tenants'::regclass, 'odl.users'::regclass, 'odl.projects'::regclass)
    and c.relrowsecurity
    and c.relforcerowsecurity
    and exists (select from pg_catalog.pg_policy as p where p.polrelid = c.oid);
