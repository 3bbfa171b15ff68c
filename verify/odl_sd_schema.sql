-- Verify odl-db:odl_sd_schema on pg

select 1 / count(*) from odl.json_schemas
where version = '4.1' and schema_id = 'https://odl-db.invalid/odl-db/schemas/odl-sd-4.1.schema.json';
