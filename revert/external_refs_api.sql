-- Revert odl-db:external_refs_api from pg

begin;

drop function odl.blob_purge();
drop function odl.odl_set_external(text, text, boolean, integer);
delete from odl.error_codes where sqlstate in ('ODB01', 'ODB02', 'ODB03', 'ODB04');

commit;
