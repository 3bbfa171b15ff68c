-- Revert odl-db:ownership from pg

begin;

drop procedure odl.adopt_objects();

commit;
