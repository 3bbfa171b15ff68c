-- Revert odl-db:odl_sd_schema from pg

begin;

delete from odl.json_schemas where version = '4.1';

commit;
