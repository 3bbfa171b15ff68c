-- Verify odl-db:epcis_retention on pg

select 1 / count(*)
from pg_catalog.pg_class as c
inner join pg_catalog.pg_am as a on c.relam = a.oid
where c.oid = 'odl.epcis_event_ids_record_month'::regclass and a.amname = 'brin';
select 1 / (count(*) = 0)::int from pg_catalog.pg_constraint
where conrelid = 'odl.log_retention_policies'::regclass and conname = 'log_retention_policies_epcis_kept';
