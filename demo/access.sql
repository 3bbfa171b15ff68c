-- What the demo shows: access control in Helios Solar. Rights on documents
-- come only from role assignments at nodes of the hierarchy (the nearest
-- node with an assignment wins). Here, as odl_app in psql, the assignments
-- themselves; then `demo/app.py access` (the Python client) shows what they
-- give: changes to some sections wait for an approver, the project's phase
-- locks sections, reads are redacted to what the reader may see.

\set SHOW_CONTEXT never

select tenant_id as helios from odl.tenants where name = 'Helios Solar' \gset
select user_id as ada from odl.users where email = 'ada@helios.example' \gset

\echo
\echo '== Access control: who may read, write, propose and approve what, and where.'
\c - odl_app
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset

\echo '-- the roles of Helios Solar''s users, each held at a node of the hierarchy:'
select
    u.email,
    a.role_id as role,
    n.level,
    n.name as node,
    (select string_agg(p.name, ', ' order by p.name) from odl.projects as p where p.node_id = n.node_id) as projects
from odl.rbac_assignments as a
inner join odl.users as u on a.tenant_id = u.tenant_id and a.user_id = u.user_id
inner join odl.nodes as n on a.tenant_id = n.tenant_id and a.node_id = n.node_id
where a.revoked_at is null
order by cardinality(n.path), n.name, u.email;
commit;
