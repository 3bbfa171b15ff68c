-- Verify odl-db:python on pg

select module, source, sha256, installed_at from odl.python_modules where false;
select 'odl.python_boot()'::regprocedure;
select 'odl.python_install(text, text)'::regprocedure;
select 1 / count(*) from odl.python_modules where module = 'odl_db';
