-- Runs as its owner, under RLS (the context's tenant only), so that
-- analysts read it without SELECT on the tables it joins.
create or replace view odl.project_summary
with (security_barrier, security_invoker = false)
as
select
    p.tenant_id,
    t.name as tenant_name,
    t.region,
    p.project_id,
    p.name as project_name,
    p.phase,
    p.classification,
    u.email as created_by_email,
    p.created_at
from odl.projects as p
inner join odl.tenants as t on p.tenant_id = t.tenant_id
inner join odl.users as u on p.tenant_id = u.tenant_id and p.created_by = u.user_id;

revoke all on odl.project_summary from public;
grant select on odl.project_summary to odl_analyst, odl_app;
comment on view odl.project_summary is
'Projects of the current tenant with their creator (RLS: the context''s tenant only)';
