-- Deploy odl-db:access to pg
-- requires: documents
-- requires: policy_load
-- The tenant's side of access control: the hierarchy of nodes that
-- projects hang under, role assignments at nodes, change requests waiting
-- for approval, and every approval decision. The rules live in
-- sql/060_access (change access_api) and the policy in policy/access.json.

begin;

create table odl.nodes (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    node_id odl.ulid not null default odl.odl_ulid(),
    parent_id odl.ulid,
    level text not null references odl.hierarchy_levels (level),
    name text not null,
    path odl.ulid[] not null,
    created_by odl.ulid not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, node_id),
    foreign key (tenant_id, parent_id) references odl.nodes (tenant_id, node_id),
    foreign key (tenant_id, created_by) references odl.users (tenant_id, user_id),
    constraint nodes_parent_id_name_key unique nulls not distinct (tenant_id, parent_id, name),
    constraint nodes_path_ends_with_self check (path[cardinality(path)] = node_id),
    constraint nodes_name_not_blank check (btrim(name) <> '')
);
create index nodes_tenant_id_created_by_idx on odl.nodes (tenant_id, created_by);
create index nodes_path_idx on odl.nodes using gin (path);
comment on table odl.nodes is
'The project hierarchy of a tenant: PORTFOLIO > SITE > PLANT > BLOCK > ARRAY > STRING > DEVICE';
comment on column odl.nodes.path is
'The node''s ancestors from its PORTFOLIO down, then the node itself; nodes never move';
comment on constraint nodes_parent_id_name_key on odl.nodes is 'Siblings have distinct names';
comment on constraint nodes_path_ends_with_self on odl.nodes is 'A path ends at its node';
comment on constraint nodes_name_not_blank on odl.nodes is 'A node needs a visible name';

alter table odl.projects add column node_id odl.ulid;
alter table odl.projects add constraint projects_node_id_fkey
foreign key (tenant_id, node_id) references odl.nodes (tenant_id, node_id);
create index projects_tenant_id_node_id_idx on odl.projects (tenant_id, node_id);
comment on column odl.projects.node_id is
'The node the project hangs under; rights on the project are those at this node. Null: nobody has any';
comment on constraint projects_node_id_fkey on odl.projects is 'The node is of the same tenant';

create table odl.rbac_assignments (
    tenant_id odl.ulid not null,
    assignment_id odl.ulid not null default odl.odl_ulid(),
    user_id odl.ulid not null,
    node_id odl.ulid not null,
    role_id text not null references odl.rbac_roles (role_id),
    valid_from timestamptz not null default now(),
    valid_until timestamptz,
    granted_by odl.ulid not null,
    granted_at timestamptz not null default now(),
    revoked_at timestamptz,
    revoked_by odl.ulid,
    primary key (tenant_id, assignment_id),
    foreign key (tenant_id, user_id) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, node_id) references odl.nodes (tenant_id, node_id),
    foreign key (tenant_id, granted_by) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, revoked_by) references odl.users (tenant_id, user_id),
    constraint rbac_assignments_window_valid check (valid_until > valid_from),
    constraint rbac_assignments_revocation_complete check ((revoked_at is null) = (revoked_by is null))
);
create index rbac_assignments_tenant_id_user_id_node_id_idx on odl.rbac_assignments (tenant_id, user_id, node_id);
create index rbac_assignments_tenant_id_node_id_idx on odl.rbac_assignments (tenant_id, node_id);
create index rbac_assignments_tenant_id_granted_by_idx on odl.rbac_assignments (tenant_id, granted_by);
create index rbac_assignments_tenant_id_revoked_by_idx on odl.rbac_assignments (tenant_id, revoked_by);
comment on table odl.rbac_assignments is
'A role held by a user at a node, from valid_from until valid_until (open when null), unless revoked; '
'revoked rows stay as history';
comment on constraint rbac_assignments_window_valid on odl.rbac_assignments is 'A window ends after it starts';
comment on constraint rbac_assignments_revocation_complete on odl.rbac_assignments is
'A revocation records when and by whom';

create table odl.change_requests (
    tenant_id odl.ulid not null,
    change_id odl.ulid not null default odl.odl_ulid(),
    project_id odl.ulid not null,
    kind text not null,
    doc_id odl.ulid,
    base_version integer,
    patch jsonb,
    target_phase text references odl.project_phases (phase),
    sections text[] not null,
    reason text not null,
    intent text,
    evidence_uris jsonb not null default '[]',
    tool_version text,
    author_id odl.ulid not null,
    created_at timestamptz not null default now(),
    status text not null default 'pending',
    decided_by odl.ulid,
    decided_at timestamptz,
    merged_version integer,
    primary key (tenant_id, change_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade,
    foreign key (tenant_id, doc_id) references odl.odl_documents (tenant_id, doc_id) on delete cascade,
    foreign key (tenant_id, author_id) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, decided_by) references odl.users (tenant_id, user_id),
    constraint change_requests_kind_valid check (
        kind = 'patch' and doc_id is not null and base_version is not null and patch is not null
        and target_phase is null
        or kind = 'phase' and target_phase is not null and doc_id is null and patch is null
    ),
    constraint change_requests_reason_valid check (
        reason in ('proposal', 'requested', 'approval_required', 'agent', 'phase_change')
    ),
    constraint change_requests_status_valid check (status in ('pending', 'merged', 'rejected')),
    constraint change_requests_decision_complete check (
        (status = 'pending') = (decided_by is null) and (decided_by is null) = (decided_at is null)
    )
);
create index change_requests_tenant_id_project_id_status_idx on odl.change_requests (tenant_id, project_id, status);
create index change_requests_tenant_id_doc_id_idx on odl.change_requests (tenant_id, doc_id);
create index change_requests_tenant_id_author_id_idx on odl.change_requests (tenant_id, author_id);
create index change_requests_tenant_id_decided_by_idx on odl.change_requests (tenant_id, decided_by);
comment on table odl.change_requests is
'Changes held for an approver: a patch to a document (against base_version) or a move to the next phase';
comment on column odl.change_requests.sections is 'The sections the change touches; the approver needs A on each';
comment on column odl.change_requests.reason is
'Why it waits: proposal (P without W), requested (the author asked), approval_required (a section needs it), '
'agent (an AI agent wrote it), phase_change';
comment on constraint change_requests_kind_valid on odl.change_requests is
'A patch names its document, base version and patch; a phase change names its phase';
comment on constraint change_requests_reason_valid on odl.change_requests is 'The reasons a change waits';
comment on constraint change_requests_status_valid on odl.change_requests is 'pending, then merged or rejected';
comment on constraint change_requests_decision_complete on odl.change_requests is
'A decided change records who decided and when';

create table odl.approvals (
    tenant_id odl.ulid not null,
    approval_id bigint generated always as identity,
    change_id odl.ulid not null,
    project_id odl.ulid not null,
    section text not null,
    outcome text not null,
    approver_id odl.ulid not null,
    approver_role text not null references odl.rbac_roles (role_id),
    comment text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, approval_id),
    foreign key (tenant_id, change_id) references odl.change_requests (tenant_id, change_id) on delete cascade,
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade,
    foreign key (tenant_id, approver_id) references odl.users (tenant_id, user_id),
    constraint approvals_outcome_valid check (outcome in ('approved', 'rejected', 'waived'))
);
create index approvals_tenant_id_change_id_idx on odl.approvals (tenant_id, change_id);
create index approvals_tenant_id_project_id_idx on odl.approvals (tenant_id, project_id);
create index approvals_tenant_id_approver_id_idx on odl.approvals (tenant_id, approver_id);
comment on table odl.approvals is 'Every approval decision, one row per section of the change decided';
comment on column odl.approvals.approver_role is 'The approver role under which the approver decided';
comment on constraint approvals_outcome_valid on odl.approvals is 'The design''s three outcomes';

do $$
declare
    t text;
begin
    foreach t in array array['nodes', 'rbac_assignments', 'change_requests', 'approvals'] loop
        execute format('alter table odl.%I enable row level security', t);
        execute format('alter table odl.%I force row level security', t);
        execute format(
            'create policy tenant_isolation on odl.%I '
            'using (tenant_id = (select c.tenant_id from odl.current_context as c)) '
            'with check (tenant_id = (select c.tenant_id from odl.current_context as c))',
            t
        );
    end loop;
end
$$;

revoke all on odl.nodes, odl.rbac_assignments, odl.change_requests, odl.approvals from public;
-- Change requests hold document content: they are read through
-- odl_change_requests(), which redacts like odl_get_document().
grant select on odl.nodes, odl.rbac_assignments, odl.approvals to odl_app, odl_analyst;

call odl.adopt_objects();

commit;
