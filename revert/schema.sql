-- Revert odl-db:schema from pg

begin;

drop table odl.error_codes;
drop schema odl;

commit;
