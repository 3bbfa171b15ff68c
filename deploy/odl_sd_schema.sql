-- Deploy odl-db:odl_sd_schema to pg
-- v0.2.0, Document core v2: reworked from @v0.1.0 (see deploy/odl_sd_schema@v0.1.0.sql)
-- requires: documents_api

begin;

\set source `cat schemas/odl-sd-4.1.schema.json`
call odl.register_json_schema('4.1', :'source');

commit;
