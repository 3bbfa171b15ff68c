-- Verify odl-db:limits on pg

select name, value, unit, sqlstate, description from odl.limits where false;
select 'odl.check_limit(text, bigint, text)'::regprocedure;
select 1 / count(*)::int from odl.python_modules where module = 'odl_db.guards';
select 'odl.odl_limits()'::regprocedure;
