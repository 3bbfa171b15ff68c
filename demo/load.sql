-- Demo data, loaded once and only through the API: two tenants with their
-- users and projects, then each tenant's hierarchy of nodes, its projects
-- attached, and the roles its users hold there. Runs as a superuser, which
-- sees every tenant. Each part runs only when its data is missing, so a
-- database loaded by an older demo gains the part it lacks.

select not exists (select from odl.tenants where name = 'Helios Solar') as need_load \gset

\if :need_load
set role odl_admin;
select odl.odl_create_tenant('Helios Solar', 'EU') as helios \gset
select odl.odl_create_user(:'helios', 'ana@helios.example', 'engineer') as ana \gset
select odl.odl_create_user(:'helios', 'ben@helios.example', 'project_manager') as ben \gset
select odl.odl_create_tenant('Borealis Storage', 'US') as borealis \gset
select odl.odl_create_user(:'borealis', 'cy@borealis.example', 'engineer') as cy \gset

set role odl_app;
begin;
select odl.odl_set_context(:'helios', :'ana') is null as done \gset
select odl.odl_create_project('Sunfield PV 50 MW') is null as done \gset
-- A project starts in the first phase unless its creator decides phase
-- changes, as ben, a project_manager, does.
select odl.odl_set_context(:'helios', :'ben') is null as done \gset
select odl.odl_create_project('Harbour Rooftops', 'construction', 'confidential') is null as done \gset
commit;

begin;
select odl.odl_set_context(:'borealis', :'cy') is null as done \gset
select odl.odl_create_project('Prairie BESS 200 MWh', 'design', 'restricted') is null as done \gset
commit;
reset role;
\echo 'Loaded the demo data: 2 tenants, 3 users, 3 projects.'
\else
\echo 'Demo data already loaded.'
\endif

-- Access: rights on documents come only from role assignments at nodes of
-- the hierarchy, and a project has the rights of the node it is attached
-- to. Each tenant gets an administrator (coarse role super_user), who
-- builds PORTFOLIO > SITE > PLANT, attaches the projects and assigns roles.
select not exists (select from odl.nodes) as need_access \gset

\if :need_access
select t.tenant_id as helios from odl.tenants as t where t.name = 'Helios Solar' \gset
select t.tenant_id as borealis from odl.tenants as t where t.name = 'Borealis Storage' \gset
select u.user_id as ana from odl.users as u where u.email = 'ana@helios.example' \gset
select u.user_id as ben from odl.users as u where u.email = 'ben@helios.example' \gset
select u.user_id as cy from odl.users as u where u.email = 'cy@borealis.example' \gset
select p.project_id as sunfield from odl.projects as p where p.name = 'Sunfield PV 50 MW' \gset
select p.project_id as harbour from odl.projects as p where p.name = 'Harbour Rooftops' \gset
select p.project_id as prairie from odl.projects as p where p.name = 'Prairie BESS 200 MWh' \gset

begin;
set local role odl_admin;
select odl.odl_create_user(:'helios', 'ada@helios.example', 'super_user') as ada \gset
select odl.odl_create_user(:'helios', 'eve@helios.example', 'expert') as eve \gset
select odl.odl_create_user(:'helios', 'dara@helios.example', 'data_analyst', false) as dara \gset
select odl.odl_create_user(:'helios', 'gus@helios.example', 'guest', false) as gus \gset
select odl.odl_create_user(:'borealis', 'dan@borealis.example', 'super_user') as dan \gset

set local role odl_app;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select odl.odl_create_node(null, 'PORTFOLIO', 'Helios Iberia') as iberia \gset
select odl.odl_create_node(:'iberia', 'SITE', 'Sunfield') as sunfield_site \gset
select odl.odl_create_node(:'sunfield_site', 'PLANT', 'Sunfield PV') as sunfield_plant \gset
select odl.odl_create_node(:'iberia', 'SITE', 'Harbour') as harbour_site \gset
select odl.odl_create_node(:'harbour_site', 'PLANT', 'Harbour Rooftops') as harbour_plant \gset
select odl.odl_attach_project(:'sunfield', :'sunfield_plant') is null as done \gset
select odl.odl_attach_project(:'harbour', :'harbour_plant') is null as done \gset
-- The administrator writes documents only through an assignment, like
-- anyone; super_user holds W on every section, which creating a whole
-- document needs.
select odl.odl_assign_role(:'ada', :'iberia', 'super_user') is null as done \gset
select odl.odl_assign_role(:'ben', :'iberia', 'project_manager') is null as done \gset
select odl.odl_assign_role(:'ana', :'iberia', 'engineer') is null as done \gset
select odl.odl_assign_role(:'eve', :'sunfield_site', 'expert') is null as done \gset
select odl.odl_assign_role(:'dara', :'sunfield_site', 'data_analyst') is null as done \gset
select odl.odl_assign_role(:'gus', :'sunfield_plant', 'guest') is null as done \gset
-- At Harbour Rooftops, ana is only a guest: the nearer assignment wins.
select odl.odl_assign_role(:'ana', :'harbour_plant', 'guest') is null as done \gset

select odl.odl_set_context(:'borealis', :'dan') is null as done \gset
select odl.odl_create_node(null, 'PORTFOLIO', 'Borealis US') as borealis_us \gset
select odl.odl_create_node(:'borealis_us', 'SITE', 'Prairie') as prairie_site \gset
select odl.odl_create_node(:'prairie_site', 'PLANT', 'Prairie BESS') as prairie_plant \gset
select odl.odl_attach_project(:'prairie', :'prairie_plant') is null as done \gset
select odl.odl_assign_role(:'dan', :'borealis_us', 'super_user') is null as done \gset
select odl.odl_assign_role(:'cy', :'borealis_us', 'engineer') is null as done \gset
commit;
\echo 'Loaded the access data: 2 hierarchies, 5 more users, 9 role assignments.'
\else
\echo 'Access data already loaded.'
\endif
