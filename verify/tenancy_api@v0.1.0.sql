-- Verify odl-db:tenancy_api on pg

select 'odl.odl_create_tenant(text, text)'::regprocedure;
select 'odl.odl_create_user(text, text, text, boolean, text)'::regprocedure;
select 'odl.odl_create_project(text, text, text)'::regprocedure;
select * from odl.project_summary where false;
