-- What the demo shows to an analyst: a person's login role, bound by the
-- tenant's administrator to a user, asks real questions of the analyst
-- views (odl.analyst_*) and sees only what that user may read. The data
-- they read (a few committed patches and change requests on the spec
-- document, an auditor) was loaded once by `demo/app.py analyst`; here the
-- DBA creates two logins once, and the administrator binds demo_analyst to
-- dara (data analyst at the Sunfield site) and demo_auditor to ines
-- (auditor at the Sunfield site).

\set SHOW_CONTEXT never
\set ON_ERROR_STOP on

select tenant_id as helios from odl.tenants where name = 'Helios Solar' \gset
select user_id as ada from odl.users where email = 'ada@helios.example' \gset
select user_id as dara from odl.users where email = 'dara@helios.example' \gset
select user_id as ines from odl.users where email = 'ines@helios.example' \gset

-- The logins are the cluster's; each is bound once, by the administrator.
select not exists (select from pg_catalog.pg_roles where rolname = 'demo_analyst') as need_analyst \gset
\if :need_analyst
create role demo_analyst login in role odl_analyst;
\endif
select not exists (select from pg_catalog.pg_roles where rolname = 'demo_auditor') as need_auditor \gset
\if :need_auditor
create role demo_auditor login in role odl_analyst;
\endif
set role odl_app;
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select
    not exists (select from odl.odl_login_bindings() as b where b.login = 'demo_analyst') as bind_analyst,
    not exists (select from odl.odl_login_bindings() as b where b.login = 'demo_auditor') as bind_auditor
\gset
\if :bind_analyst
select odl.odl_bind_login('demo_analyst', :'dara') is null as done \gset
\endif
\if :bind_auditor
select odl.odl_bind_login('demo_auditor', :'ines') is null as done \gset
\endif
commit;
reset role;

\echo
\echo '== Analysts: a person''s login, bound to one user, reads the analyst views as that user.'
\echo '-- The bindings (odl_login_bindings(), as the tenant''s administrator):'
set role odl_app;
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select b.login, u.email, u.role
from odl.odl_login_bindings() as b
inner join odl.users as u on b.user_id = u.user_id
where b.login like 'demo\_%'
order by b.login;
commit;
reset role;

\c - demo_analyst
\echo
\echo '-- Connected as demo_analyst (psql -U demo_analyst), in dara''s context:'
select format('     begin; select odl.odl_set_context(%L, %L);', :'helios', :'dara') as context_line \gset
\echo :context_line
begin;
select odl.odl_set_context(:'helios', :'dara') is null as done \gset

\echo '-- 1. Which projects may I read, in which phase, under which node? (Harbour Rooftops is not dara''s)'
select p.project_name, p.phase, p.classification, p.documents, array_to_string(p.path_names, ' > ') as node_path
from odl.analyst_projects as p
order by p.phase, node_path;

\echo '-- 2. Who wrote how much, each day?'
select d.day, d.author_email, d.versions, d.operations
from odl.analyst_patches_daily as d
order by d.day desc, d.versions desc, d.author_email asc;
\echo '   and the latest versions, with their intent:'
select p.version, p.author_email, p.operations, p.changed_pointers, p.intent
from odl.analyst_patches as p
order by p.created_at desc, p.version desc
limit 6;

\echo '-- 3. Which change requests are waiting, and for how long?'
select c.status, c.kind, c.author_email, c.sections, c.intent, date_trunc('second', c.age) as age
from odl.analyst_change_requests as c
order by c.status asc, c.age desc;

\echo '-- 4. How many instances of each type are in each lifecycle status?'
select c.type_ref, c.lifecycle_status, sum(c.instances) as instances
from odl.analyst_instance_counts as c
group by c.type_ref, c.lifecycle_status
order by instances desc, c.type_ref asc
limit 8;

\echo '-- 5. The audit is confidential: a data analyst reads none of it'
select count(*) as audit_rows from odl.analyst_audit_actions;
commit;

\set ON_ERROR_STOP off
\echo '-- and demo_analyst can act as nobody else (ODC05), nor read a table:'
select odl.odl_set_context(:'helios', :'ada');
select count(*) from odl.odl_documents;

\c - demo_auditor
\echo
\echo '-- 5. Connected as demo_auditor (ines, auditor at the Sunfield site): what happened, by action and day?'
begin;
select odl.odl_set_context(:'helios', :'ines') is null as done \gset
select a.day, a.action, sum(a.events) as events
from odl.analyst_audit_actions as a
group by a.day, a.action
order by a.day desc, events desc, a.action asc;
commit;
\c - postgres
