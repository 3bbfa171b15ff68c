-- Revert odl-db:canonical from pg

begin;

drop function odl.odl_content_hash(jsonb);
drop function odl.odl_canonical_json(jsonb);
delete from odl.python_modules where module = 'odl_db.canonical';

commit;
