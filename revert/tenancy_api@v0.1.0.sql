-- Revert odl-db:tenancy_api from pg

begin;

drop view odl.project_summary;
drop function odl.odl_create_project(text, text, text);
drop function odl.odl_create_user(text, text, text, boolean, text);
drop function odl.odl_create_tenant(text, text);

commit;
