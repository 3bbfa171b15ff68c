-- Verify odl-db:epcis_retention_api on pg

select 'odl.epcis_retire_month(timestamptz, timestamptz)'::regprocedure;
