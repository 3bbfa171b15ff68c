-- Revert odl-db:python from pg

begin;

drop procedure odl.python_install(text, text);
drop function odl.python_boot();
drop table odl.python_modules;

commit;
