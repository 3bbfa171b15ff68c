-- Revert odl-db:python from pg

begin;

drop table odl.python_modules;

commit;
