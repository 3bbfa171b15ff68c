-- Verify odl-db:python_loader on pg

select 'odl.python_boot()'::regprocedure;
select 'odl.python_install(text, text)'::regprocedure;
select 1 / count(*) from odl.python_modules where module = 'odl_db';
