-- Deploy odl-db:odl_sd_schema to pg
-- requires: documents_api

begin;

\set source `cat schemas/odl-sd-4.1.schema.json`
call odl.register_json_schema('4.1', :'source');

commit;
