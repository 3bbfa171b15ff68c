-- Revert odl-db:ulid from pg

begin;

drop function odl.odl_ulid_time(text);
drop function odl.odl_ulid();
delete from odl.error_codes where sqlstate = 'ODU01';
delete from odl.python_modules where module = 'odl_db.ulid';

commit;
