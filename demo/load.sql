-- Demo data, loaded once and only through the API: two tenants with their
-- users and projects. Runs as a superuser, which sees every tenant.

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
select odl.odl_create_project('Harbour Rooftops', 'construction', 'confidential') is null as done \gset
commit;

begin;
select odl.odl_set_context(:'borealis', :'cy') is null as done \gset
select odl.odl_create_project('Prairie BESS 200 MWh', 'procurement', 'restricted') is null as done \gset
commit;
reset role;
\echo 'Loaded the demo data: 2 tenants, 3 users, 3 projects.'
\else
\echo 'Demo data already loaded.'
\endif
