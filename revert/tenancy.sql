-- Revert odl-db:tenancy from pg

begin;

drop table odl.projects;
drop table odl.users;
drop table odl.tenants;
drop domain odl.ulid;

commit;
