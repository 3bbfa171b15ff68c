-- Verify odl-db:access on pg

select tenant_id, node_id, parent_id, level, name, path, created_by, created_at from odl.nodes where false;
select node_id from odl.projects where false;
select
    tenant_id, assignment_id, user_id, node_id, role_id, valid_from, valid_until, granted_by, granted_at,
    revoked_at, revoked_by
from odl.rbac_assignments where false;
select
    tenant_id, change_id, project_id, kind, doc_id, base_version, patch, target_phase, sections, reason, intent,
    evidence_uris, tool_version, author_id, created_at, status, decided_by, decided_at, merged_version
from odl.change_requests where false;
select
    tenant_id, approval_id, change_id, project_id, section, outcome, approver_id, approver_role, comment, created_at
from odl.approvals where false;

-- RLS enabled and forced, with a policy, on each tenant table.
select 1 / (count(*) = 4)::int
from pg_catalog.pg_class as c
where
    c.oid in (
        'odl.nodes'::regclass, 'odl.rbac_assignments'::regclass, 'odl.change_requests'::regclass,
        'odl.approvals'::regclass
    )
    and c.relrowsecurity
    and c.relforcerowsecurity
    and exists (select from pg_catalog.pg_policy as p where p.polrelid = c.oid);
