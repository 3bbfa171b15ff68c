-- Revert odl-db:schema from pg

begin;

drop procedure odl.adopt_objects();
drop table odl.error_codes;
drop schema odl;

commit;
