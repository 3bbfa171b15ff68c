-- Revert odl-db:python_loader from pg

begin;

delete from odl.python_modules where module = 'odl_db';
drop procedure odl.python_install(text, text);
drop function odl.python_boot();

commit;
