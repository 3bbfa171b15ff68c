-- Revert odl-db:tenancy from pg

begin;

drop view odl.project_summary;
drop function odl.odl_create_project(text, text, text);
drop function odl.odl_create_user(text, text, text, boolean);
drop function odl.odl_create_tenant(text, text);
drop table odl.projects;
drop table odl.users;
drop table odl.tenants;
drop function odl.odl_set_context(text, text);
drop function odl.require_context();
drop function odl.odl_current_user_id();
drop function odl.odl_current_tenant_id();
drop table odl.project_phases;
drop table odl.rbac_roles;
delete from odl.error_codes where sqlstate in ('ODC01', 'ODC02', 'ODC03');

commit;
