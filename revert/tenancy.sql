-- Revert odl-db:tenancy from pg

begin;

drop table odl.projects;
drop table odl.users;
drop table odl.tenants;
drop table odl.project_phases;
drop table odl.rbac_roles;
drop domain odl.ulid;

commit;
