-- Verify odl-db:traceability on pg

select
    tenant_id, event_id, kind, record_id, project_id, linked_by, linked_at, shipment_id, receipt_id, move_id
from odl.trace_links where false;
select 1 / (count(*) = 1)::int
from pg_catalog.pg_class as c
where
    c.oid = 'odl.trace_links'::regclass
    and c.relrowsecurity
    and c.relforcerowsecurity
    and exists (select from pg_catalog.pg_policy as p where p.polrelid = c.oid);
select 'odl.serials_trace_lot_idx'::regclass;
select 'odl.serials_trace_status_idx'::regclass;
select 'odl.po_lines_trace_supplier_idx'::regclass;
select 'odl.po_lines_trace_component_idx'::regclass;
select tenant_id, component_ref, serial_no, moved_at, move_id from odl.stock_move_serials where false;
select 1 / (count(*) = 1)::int
from pg_catalog.pg_class as c
where
    c.oid = 'odl.stock_move_serials'::regclass
    and c.relrowsecurity
    and c.relforcerowsecurity
    and exists (select from pg_catalog.pg_policy as p where p.polrelid = c.oid);
select 'odl.component_index_trace_project_idx'::regclass;
select 'odl.warranty_claims_trace_serial_idx'::regclass;
