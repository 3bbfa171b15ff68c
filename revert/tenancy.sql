-- Revert odl-db:tenancy from pg

begin;

\set data_tables 'odl.tenants,odl.users,odl.projects'
\ir lib/refuse_data_loss.psql

drop table odl.projects;
drop table odl.users;
drop table odl.tenants;
drop domain odl.ulid;

commit;
