-- What the demo shows: tenant isolation by row-level security, as an
-- application (odl_app) sees it in SQL: the guarantees hold whatever SQL
-- an application sends, so this part stays in psql. What applications do
-- (documents, patches, reads) the demo does with the Python client
-- (demo/app.py).

\set SHOW_CONTEXT never

select tenant_id as helios from odl.tenants where name = 'Helios Solar' \gset
select user_id as ana from odl.users where email = 'ana@helios.example' \gset
select tenant_id as borealis from odl.tenants where name = 'Borealis Storage' \gset
select user_id as cy from odl.users where email = 'cy@borealis.example' \gset

\echo
\echo '== Connected as odl_app, the role applications log in as.'
\c - odl_app
\echo 'One query, no tenant filter in it: RLS supplies the filter from odl_set_context().'
\echo '  select tenant_name, project_name, phase, classification from odl.project_summary'

\echo
\echo '-- as Helios Solar (user ana):'
begin;
select odl.odl_set_context(:'helios', :'ana') is null as done \gset
select tenant_name, project_name, phase, classification, created_by_email
from odl.project_summary order by project_name;
commit;

\echo '-- as Borealis Storage (user cy):'
begin;
select odl.odl_set_context(:'borealis', :'cy') is null as done \gset
select tenant_name, project_name, phase, classification, created_by_email
from odl.project_summary order by project_name;
commit;

\echo '-- with no tenant set (the context lasts one transaction): nothing is visible'
select
    (select count(*) from odl.tenants) as tenants,
    (select count(*) from odl.users) as users,
    (select count(*) from odl.projects) as projects;

\echo '-- writing with no tenant set is refused with a clear error:'
select odl.odl_create_project('Orphan');

\echo '-- a user cannot act in another tenant:'
select odl.odl_set_context(:'helios', :'cy');

\echo '-- applications never write tables directly:'
insert into odl.projects (tenant_id, name, created_by) values (:'helios', 'Sneaky', :'ana');

\echo
\echo '== The catalog audit (odl_security_audit), as a DBA: no findings means clean.'
\c - postgres
select count(*) as findings from odl.odl_security_audit();
