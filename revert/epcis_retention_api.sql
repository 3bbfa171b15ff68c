-- Revert odl-db:epcis_retention_api from pg

begin;

drop function odl.epcis_retire_month(timestamptz, timestamptz);

commit;
