-- Revert odl-db:limits from pg

begin;

delete from odl.python_modules where module = 'odl_db.guards';
drop function odl.limit_values();
drop function odl.check_json(jsonb, text, text, text, integer);
drop function odl.odl_limits();
drop function odl.check_limit(text, bigint, text);
drop table odl.limits;
delete from odl.error_codes where sqlstate in ('ODL01', 'ODL02', 'ODL03', 'ODL04', 'ODL05', 'ODL06');

commit;
