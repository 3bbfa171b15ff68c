-- Views for analysts' questions, each redacted by the rules of a read.
--
-- Like odl.readable_documents, every view runs as its owner under RLS (the
-- context's tenant only) and shows only what the context's user may read:
-- projects where they hold R on some section (odl.readable_project), a
-- patch's intent only when they may read all that it touched (the rule of
-- odl_document_history()), changed pointers as the change feed shows them,
-- change requests as odl_change_requests() shows them, instances and audit
-- events through odl.readable_instances and odl.audit_trail. Each is a
-- security barrier: its filters run before any condition of the reader's
-- query, so a function of theirs in a WHERE clause never sees a row
-- filtered out. A view checks EXECUTE on the functions it calls against
-- its reader, so the helpers below are granted to odl_analyst: they decide
-- for the context's user only, and only ever remove content.

grant execute on function
odl.readable_project(text), odl.reader_scope(text), odl.pointer_reach(text, text[], text[]),
odl.pointers_readable(text[], text[], text[]), odl.patch_pointers(jsonb), odl.pointer_steps(text)
to odl_analyst;

-- Projects by phase and node.
create or replace view odl.analyst_projects
with (security_barrier)
as
select
    p.project_id,
    p.name as project_name,
    p.phase,
    p.classification,
    n.node_id,
    n.level as node_level,
    n.name as node_name,
    u.email as created_by_email,
    p.created_at,
    array(
        select a.name
        from unnest(n.path) with ordinality as x (node_id, depth)
        inner join odl.nodes as a on a.tenant_id = n.tenant_id and x.node_id = a.node_id
        order by x.depth
    ) as path_names,
    array(
        select a.level
        from unnest(n.path) with ordinality as x (node_id, depth)
        inner join odl.nodes as a on a.tenant_id = n.tenant_id and x.node_id = a.node_id
        order by x.depth
    ) as path_levels,
    (
        select count(*) from odl.odl_documents as d where d.tenant_id = p.tenant_id and d.project_id = p.project_id
    ) as documents,
    (
        select max(d.valid_from)
        from odl.odl_documents as d
        where d.tenant_id = p.tenant_id and d.project_id = p.project_id
    ) as last_written_at
from odl.projects as p
inner join odl.nodes as n on p.tenant_id = n.tenant_id and p.node_id = n.node_id
left join odl.users as u on p.tenant_id = u.tenant_id and p.created_by = u.user_id
where odl.readable_project(p.project_id);

revoke all on odl.analyst_projects from public;
grant select on odl.analyst_projects to odl_analyst;
comment on view odl.analyst_projects is
'The projects the reader may read (R on some section there), with their phase, classification and the node of '
'the hierarchy they hang under, its path from the PORTFOLIO down, and their documents (odl_analyst)';
comment on column odl.analyst_projects.project_id is 'The project';
comment on column odl.analyst_projects.project_name is 'The project''s name, unique in the tenant';
comment on column odl.analyst_projects.phase is 'The project''s lifecycle phase (odl.project_phases)';
comment on column odl.analyst_projects.classification is
'The project''s data classification: public, internal, confidential or restricted';
comment on column odl.analyst_projects.node_id is 'The node the project hangs under; its rights are the node''s';
comment on column odl.analyst_projects.node_level is 'The node''s level: PORTFOLIO, SITE, PLANT, BLOCK, ...';
comment on column odl.analyst_projects.node_name is 'The node''s name';
comment on column odl.analyst_projects.path_names is
'The names of the nodes from the PORTFOLIO down to the project''s node; path_names[1] is the portfolio';
comment on column odl.analyst_projects.path_levels is 'The levels of the nodes of path_names, in the same order';
comment on column odl.analyst_projects.created_by_email is 'The e-mail of the user who created the project';
comment on column odl.analyst_projects.created_at is 'When the project was created';
comment on column odl.analyst_projects.documents is 'How many ODL-SD documents the project holds';
comment on column odl.analyst_projects.last_written_at is
'When the most recent current version of the project''s documents was written; null without documents';

-- Patches per user and per day: one row per version.
create or replace view odl.analyst_patches
with (security_barrier)
as
with readable as (
    select p.tenant_id, p.project_id, p.node_id
    from odl.projects as p
    where odl.readable_project(p.project_id)
),

readable_nodes as (
    select distinct r.node_id from readable as r
),

scopes as (
    select n.node_id, s.readable_keys, s.hidden_parts, s.reads_all
    from readable_nodes as n
    cross join lateral odl.reader_scope(n.node_id) as s
)

select
    r.project_id,
    v.doc_id,
    v.version,
    v.created_at,
    v.created_by as author_id,
    u.email as author_email,
    pa.tool_version,
    v.doc_hash,
    (v.created_at at time zone 'UTC')::date as day,
    case when pa.patch_json is null then 'created' else 'patched' end as kind,
    jsonb_array_length(pa.patch_json) as operations,
    case when v.changed_pointers is not null then array(
        select c.pointer
        from unnest(v.changed_pointers) with ordinality as c (pointer, n)
        where (odl.pointer_reach(c.pointer, s.readable_keys, s.hidden_parts)).hidden_by is null
        order by c.n
    ) end as changed_pointers,
    case
        when
            pa.patch_json is null or s.reads_all
            or odl.pointers_readable(odl.patch_pointers(pa.patch_json), s.readable_keys, s.hidden_parts)
            then pa.intent
    end as intent
from readable as r
inner join scopes as s on r.node_id = s.node_id
inner join odl.odl_documents as d on r.tenant_id = d.tenant_id and r.project_id = d.project_id
inner join odl.odl_document_versions as v on d.tenant_id = v.tenant_id and d.doc_id = v.doc_id
left join odl.odl_patches as pa on v.tenant_id = pa.tenant_id and v.doc_id = pa.doc_id and v.version = pa.to_version
left join odl.users as u on v.tenant_id = u.tenant_id and v.created_by = u.user_id;

revoke all on odl.analyst_patches from public;
grant select on odl.analyst_patches to odl_analyst;
comment on view odl.analyst_patches is
'Who wrote what, when, with what intent: one row per version of the documents of projects the reader may read. '
'intent is null unless the reader may read all that the patch touched (as odl_document_history()); '
'changed_pointers leaves out what the reader may not read (as odl_changes_since()) (odl_analyst)';
comment on column odl.analyst_patches.project_id is 'The document''s project';
comment on column odl.analyst_patches.doc_id is 'The document';
comment on column odl.analyst_patches.version is 'The version this row stands for (1: the document''s creation)';
comment on column odl.analyst_patches.created_at is 'When the version was written';
comment on column odl.analyst_patches.day is 'The UTC day the version was written';
comment on column odl.analyst_patches.author_id is 'The user who wrote the version (for a merged change: its approver)';
comment on column odl.analyst_patches.author_email is 'The author''s e-mail';
comment on column odl.analyst_patches.kind is
'created for a version 1 (no patch), patched for a version written by a patch, revert or merged change';
comment on column odl.analyst_patches.operations is 'How many RFC 6902 operations the patch holds; null when created';
comment on column odl.analyst_patches.changed_pointers is
'The JSON pointers the version changed, without those the reader may not read; null for versions stored before '
'v2, {""} for a new document';
comment on column odl.analyst_patches.intent is
'Why the author wrote the patch; null unless the reader may read everything the patch touched';
comment on column odl.analyst_patches.tool_version is 'The tool that wrote the patch, as it named itself';
comment on column odl.analyst_patches.doc_hash is 'The RFC 8785 content hash of the document at this version';

create or replace view odl.analyst_patches_daily
with (security_barrier)
as
select
    p.day,
    p.author_id,
    p.author_email,
    p.project_id,
    count(*) as versions,
    count(*) filter (where p.kind = 'created') as documents_created,
    count(distinct p.doc_id) as documents,
    coalesce(sum(p.operations), 0) as operations,
    min(p.created_at) as first_at,
    max(p.created_at) as last_at
from odl.analyst_patches as p
group by p.day, p.author_id, p.author_email, p.project_id;

revoke all on odl.analyst_patches_daily from public;
grant select on odl.analyst_patches_daily to odl_analyst;
comment on view odl.analyst_patches_daily is
'Versions written per UTC day, author and project, over odl.analyst_patches (the projects the reader may read) '
'(odl_analyst)';
comment on column odl.analyst_patches_daily.day is 'The UTC day';
comment on column odl.analyst_patches_daily.author_id is 'The user who wrote the versions';
comment on column odl.analyst_patches_daily.author_email is 'The author''s e-mail';
comment on column odl.analyst_patches_daily.project_id is 'The project of the documents written';
comment on column odl.analyst_patches_daily.versions is 'How many versions the author wrote that day in the project';
comment on column odl.analyst_patches_daily.documents_created is 'How many of them were new documents (version 1)';
comment on column odl.analyst_patches_daily.documents is 'How many distinct documents they wrote';
comment on column odl.analyst_patches_daily.operations is 'The RFC 6902 operations of their patches, summed';
comment on column odl.analyst_patches_daily.first_at is 'The first of those versions';
comment on column odl.analyst_patches_daily.last_at is 'The last of those versions';

-- Change requests with status and age, as odl_change_requests() shows them.
create or replace view odl.analyst_change_requests
with (security_barrier)
as
select
    c.change_id,
    c.project_id,
    c.kind,
    c.status,
    c.doc_id,
    c.base_version,
    c.target_phase,
    c.sections,
    c.reason,
    c.intent,
    c.author_id,
    a.email as author_email,
    c.created_at,
    c.decided_by,
    b.email as decided_by_email,
    c.decided_at,
    c.merged_version,
    c.patch,
    c.redacted,
    coalesce(c.decided_at, now()) - c.created_at as age,
    jsonb_array_length(c.patch) as operations
from odl.odl_change_requests(null, null) as c
left join odl.users as a on c.author_id = a.user_id
left join odl.users as b on c.decided_by = b.user_id;

revoke all on odl.analyst_change_requests from public;
grant select on odl.analyst_change_requests to odl_analyst;
comment on view odl.analyst_change_requests is
'Every change request (pending, merged, rejected) of the projects the reader may read, with its age, as '
'odl_change_requests() shows it: the patch without what the reader may not read, the intent only with all of it '
'(odl_analyst)';
comment on column odl.analyst_change_requests.change_id is 'The change request';
comment on column odl.analyst_change_requests.project_id is 'The project it changes';
comment on column odl.analyst_change_requests.kind is 'patch (a document change) or phase (a move to the next phase)';
comment on column odl.analyst_change_requests.status is 'pending, merged or rejected';
comment on column odl.analyst_change_requests.doc_id is 'The document a patch changes; null for a phase change';
comment on column odl.analyst_change_requests.base_version is 'The version a patch was written against';
comment on column odl.analyst_change_requests.target_phase is 'The phase a phase change moves to';
comment on column odl.analyst_change_requests.sections is 'The sections the change touches, each needing an approver';
comment on column odl.analyst_change_requests.reason is 'Why the change was held for approval (e.g. phase_change)';
comment on column odl.analyst_change_requests.intent is
'The author''s intent; null unless the reader may read the whole patch';
comment on column odl.analyst_change_requests.author_id is 'The user who proposed the change';
comment on column odl.analyst_change_requests.author_email is 'The proposer''s e-mail';
comment on column odl.analyst_change_requests.created_at is 'When the change was proposed';
comment on column odl.analyst_change_requests.decided_by is
'The approver who merged or rejected it; null while pending';
comment on column odl.analyst_change_requests.decided_by_email is 'The approver''s e-mail';
comment on column odl.analyst_change_requests.decided_at is 'When it was decided; null while pending';
comment on column odl.analyst_change_requests.merged_version is 'The document version a merged patch became';
comment on column odl.analyst_change_requests.age is
'How long the change has waited (pending: until now) or waited until its decision';
comment on column odl.analyst_change_requests.operations is
'How many operations of the patch the reader may see; null when none or for a phase change';
comment on column odl.analyst_change_requests.patch is
'The patch as the reader may see it: operations into what they may not read left out; null when nothing is left';
comment on column odl.analyst_change_requests.redacted is 'The JSON pointers removed from the patch for the reader';

-- Document instances by lifecycle status and type.
create or replace view odl.analyst_instance_counts
with (security_barrier)
as
select
    i.project_id,
    i.type_ref,
    i.lifecycle_status,
    count(*) as instances,
    count(distinct i.doc_id) as documents,
    count(i.lat) as located
from odl.readable_instances as i
group by i.project_id, i.type_ref, i.lifecycle_status;

revoke all on odl.analyst_instance_counts from public;
grant select on odl.analyst_instance_counts to odl_analyst;
comment on view odl.analyst_instance_counts is
'Instances of the current documents per project, type_ref and lifecycle_status, over odl.readable_instances '
'(projects where the reader may read the instances section) (odl_analyst)';
comment on column odl.analyst_instance_counts.project_id is 'The project';
comment on column odl.analyst_instance_counts.type_ref is 'The component the instances are of; null when unnamed';
comment on column odl.analyst_instance_counts.lifecycle_status is
'Their lifecycle status (planned, installed, commissioned, ...); null when unset';
comment on column odl.analyst_instance_counts.instances is 'How many instances';
comment on column odl.analyst_instance_counts.documents is 'In how many documents of the project';
comment on column odl.analyst_instance_counts.located is 'How many of them have a numeric latitude';

-- Audit events by action.
create or replace view odl.analyst_audit_actions
with (security_barrier)
as
select
    e.action,
    e.project_id,
    (e.created_at at time zone 'UTC')::date as day,
    count(*) as events,
    count(distinct e.actor_id) as actors,
    min(e.created_at) as first_at,
    max(e.created_at) as last_at,
    min(e.seq) as first_seq,
    max(e.seq) as last_seq
from odl.audit_trail as e
group by e.action, e.project_id, (e.created_at at time zone 'UTC')::date;

revoke all on odl.analyst_audit_actions from public;
grant select on odl.analyst_audit_actions to odl_analyst;
comment on view odl.analyst_audit_actions is
'Audit events per UTC day, action and project, over odl.audit_trail (R on audit with the clearance for it) '
'(odl_analyst)';
comment on column odl.analyst_audit_actions.day is 'The UTC day';
comment on column odl.analyst_audit_actions.action is
'The dotted action (patch.applied, change.approved, app.login, ...)';
comment on column odl.analyst_audit_actions.project_id is 'The project of the events; null for events of no project';
comment on column odl.analyst_audit_actions.events is 'How many events';
comment on column odl.analyst_audit_actions.actors is 'How many distinct users acted';
comment on column odl.analyst_audit_actions.first_at is 'The first event''s time';
comment on column odl.analyst_audit_actions.last_at is 'The last event''s time';
comment on column odl.analyst_audit_actions.first_seq is 'The first event''s seq in the tenant''s chain';
comment on column odl.analyst_audit_actions.last_seq is 'The last event''s seq in the tenant''s chain';
