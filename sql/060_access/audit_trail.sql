-- Analysts read audit through this view. It runs as its owner, under RLS
-- (the context's tenant only), and shows a project's events only to a
-- reader who may read the audit section there (R and a clearance for its
-- classification, confidential); events of no project, such as a user's
-- creation, to a reader who may read audit at some node. As a security
-- barrier, it filters before any condition of the reader's query runs: a
-- function of theirs in a WHERE clause never sees a row filtered out.

create or replace view odl.audit_trail
with (security_barrier)
as
with reader as (
    select c.user_id from odl.current_context as c
),

readable_nodes as (
    select n.node_id
    from odl.nodes as n
    cross join reader
    cross join lateral odl.user_rights(reader.user_id, n.node_id) as r
    inner join odl.rbac_sections as s on r.section = s.section
    inner join odl.classification_levels as l on s.classification = l.level
    where r.section = 'audit' and strpos(r.rights, 'R') > 0 and r.clearance >= l.rank
)

-- The columns keep the order they were released in.
select -- noqa: ST06
    e.tenant_id,
    e.seq,
    e.created_at,
    e.event_id,
    e.action,
    e.actor_id,
    u.email as actor_email,
    e.project_id,
    e.doc_id,
    -- A patch's intent speaks of what it changed: it is shown only to a
    -- reader who may read the whole document at the project.
    case
        when
            e.payload::jsonb ? 'intent'
            and not coalesce((select sc.reads_all from odl.reader_scope(p.node_id) as sc), false)
            then (e.payload::jsonb - 'intent')::json
        else e.payload
    end as payload,
    s.classification,
    encode(e.hash, 'hex') as hash
from odl.audit_events as e
inner join odl.rbac_sections as s on s.section = 'audit'
left join odl.users as u on e.tenant_id = u.tenant_id and e.actor_id = u.user_id
left join odl.projects as p on e.tenant_id = p.tenant_id and e.project_id = p.project_id
where
    (e.project_id is null and exists (select from readable_nodes))
    or p.node_id in (select rn.node_id from readable_nodes as rn);

revoke all on odl.audit_trail from public;
grant select on odl.audit_trail to odl_analyst;
-- A view checks EXECUTE on the functions it calls against its reader.
grant execute on function
odl.user_roles(text, text, timestamptz), odl.user_rights(text, text), odl.role_rights(text[]), odl.reader_scope(text)
to odl_analyst;
comment on view odl.audit_trail is
'The current tenant''s audit events that the reader may read (R on audit, with the clearance for its '
'classification), with the actor''s e-mail (odl_analyst)';
