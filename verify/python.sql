-- Verify odl-db:python on pg

select module, source, sha256, installed_at from odl.python_modules where false;
