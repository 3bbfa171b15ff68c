-- Verify odl-db:epcis on pg

select status, biz_step, disposition, note from odl.epcis_status_steps where false;
select 1 / (count(*) = 0)::int from odl.epcis_status_steps where status = 'commissioned' and biz_step = 'commissioning';
select tenant_id, event_id, project_id, event_type, event_time, record_time from odl.epcis_event_ids where false;
select
    tenant_id, event_id, record_time, project_id, event_type, event_time, action, biz_step, disposition,
    read_point, biz_location, event, context, captured_by
from odl.epcis_events where false;
select tenant_id, epc, event_time, event_id, role from odl.epcis_event_epcs where false;
select tenant_id, biz_transaction, event_time, event_id, type from odl.epcis_event_biz_transactions where false;
select tenant_id, event_id, declaration_time, reason, declaration, record_time, declared_by
from odl.epcis_error_declarations where false;
select tenant_id, event_id, corrective_event_id from odl.epcis_corrective_events where false;
-- Every table tenant-scoped under forced RLS.
select 1 / (count(*) = 6)::int
from pg_catalog.pg_class as c
where
    c.oid in (
        'odl.epcis_event_ids'::regclass, 'odl.epcis_events'::regclass, 'odl.epcis_event_epcs'::regclass,
        'odl.epcis_event_biz_transactions'::regclass, 'odl.epcis_error_declarations'::regclass,
        'odl.epcis_corrective_events'::regclass
    )
    and c.relrowsecurity
    and c.relforcerowsecurity
    and exists (select from pg_catalog.pg_policy as p where p.polrelid = c.oid);
-- Partitioned by record_time, with partitions that pg_partman keeps.
select 1 / (count(*) = 1)::int from pg_catalog.pg_partitioned_table where partrelid = 'odl.epcis_events'::regclass;
select 1 / (count(*) > 0)::int from pg_catalog.pg_inherits where inhparent = 'odl.epcis_events'::regclass;
