-- Verify odl-db:traceability_api on pg

select 'odl.trace_readable_projects(text)'::regprocedure;
select 'odl.trace_component_gtin(text, text)'::regprocedure;
select 'odl.trace_require_gtin(text, text)'::regprocedure;
select 'odl.trace_link(text, text, text, text)'::regprocedure;
select 'odl.trace_event(timestamptz, text, text, jsonb, jsonb, text, text)'::regprocedure;
select 'odl.trace_location_uri(text)'::regprocedure;
select 'odl.stock_moves_index_serials()'::regprocedure;
select 1 / count(*)::int
from pg_catalog.pg_trigger
where tgname = 'stock_moves_index_serials' and tgrelid = 'odl.stock_moves'::regclass;
select 'odl.odl_trace_ship(text, text, timestamptz, text, text)'::regprocedure;
select 'odl.odl_trace_receive(text, numeric, text, text, text[], text, timestamptz, text)'::regprocedure;
select 'odl.odl_trace_install(text, text, text[], text, text, timestamptz, text)'::regprocedure;
select 'odl.odl_trace_where(text, text)'::regprocedure;
select 'odl.odl_trace_history(text, text)'::regprocedure;
select 'odl.odl_trace_lot_installed(text, text, text)'::regprocedure;
select 'odl.odl_trace_received_not_installed(text)'::regprocedure;
select 'odl.odl_trace_approved_not_ordered(text)'::regprocedure;
select 'odl.odl_trace_open_claims(text)'::regprocedure;
select 1 / (count(*) = 3)::int from odl.error_codes where sqlstate like 'ODF__';
select project_id, component_ref, serial_no, lot, status, location, supplier_id, po_id, po_line_id, updated_at
from odl.analyst_serials where false;
select project_id, component_ref, lot, location, status, serial_no, qty, supplier_id, po_id, since
from odl.analyst_received_not_installed where false;
select project_id, component_id, brand, part_number, rating_w, status
from odl.analyst_approved_not_ordered where false;
select 1 / (count(*) = 3)::int
from pg_catalog.pg_class as c
where
    c.oid in (
        'odl.analyst_serials'::regclass, 'odl.analyst_received_not_installed'::regclass,
        'odl.analyst_approved_not_ordered'::regclass
    )
    and 'security_barrier=true' = any(c.reloptions)
    and pg_catalog.has_table_privilege('odl_analyst', c.oid, 'SELECT')
    and not pg_catalog.has_table_privilege('odl_app', c.oid, 'SELECT');
