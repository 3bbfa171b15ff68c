-- Deploy odl-db:schema to pg
-- requires: roles

begin;

create schema odl authorization odl_owner;
comment on schema odl is 'odl-db: the ODL-SD data platform; API functions carry the odl_ prefix';

revoke all on schema odl from public;
grant usage on schema odl to odl_app, odl_analyst, odl_admin;

create table odl.error_codes (
    sqlstate text primary key,
    name text not null unique,
    meaning text not null,
    constraint error_codes_sqlstate_custom check (sqlstate ~ '^OD[0-9A-Z]{3}$')
);
alter table odl.error_codes owner to odl_owner;
comment on table odl.error_codes is
'The SQLSTATEs that odl-db raises itself, one per kind of failure; each change adds its own';
comment on constraint error_codes_sqlstate_custom on odl.error_codes is
'Class OD is unused by PostgreSQL, so these never clash with its codes';

commit;
