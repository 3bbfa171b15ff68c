-- Verify odl-db:procurement_api on pg

select 1 / count(*)::int from odl.error_codes where sqlstate = 'ODQ11';
select
    'odl.odl_create_supplier(text, text, text)'::regprocedure,
    'odl.odl_set_supplier_status(text, text)'::regprocedure,
    'odl.odl_create_rfq(text, text, jsonb, timestamptz)'::regprocedure,
    'odl.odl_set_rfq_status(text, text)'::regprocedure,
    'odl.odl_issue_rfq(text)'::regprocedure,
    'odl.odl_submit_bid(text, text, text, jsonb, text, timestamptz)'::regprocedure,
    'odl.odl_award_rfq(text, jsonb)'::regprocedure,
    'odl.odl_rfq_bids(text)'::regprocedure,
    'odl.odl_issue_po(text, text, jsonb, text, text)'::regprocedure,
    'odl.odl_set_po_status(text, text)'::regprocedure,
    'odl.odl_po_lines(text)'::regprocedure,
    'odl.odl_ship(text, text, text)'::regprocedure,
    'odl.odl_set_shipment_status(text, text)'::regprocedure,
    'odl.odl_receive(text, numeric, text, text, text[], text)'::regprocedure,
    'odl.odl_move_stock(text, text, numeric, text, text, text, text, text, text[])'::regprocedure,
    'odl.odl_open_warranty_claim(text, text, text, text, text)'::regprocedure,
    'odl.odl_set_claim_status(text, text)'::regprocedure,
    'odl.odl_open_return(text, numeric, text, text, text, text, text[])'::regprocedure,
    'odl.odl_set_return_status(text, text, text)'::regprocedure,
    'odl.procurement_authorize(text, text, text)'::regprocedure,
    'odl.procurement_action_for(text, text, text, text[])'::regprocedure,
    'odl.prices_visible(text)'::regprocedure,
    'odl.procurement_require_approved_supplier(text)'::regprocedure,
    'odl.procurement_check_lines(jsonb, integer, text)'::regprocedure,
    'odl.procurement_audit_move(text, text, text, text, text, text, jsonb)'::regprocedure,
    'odl.procurement_authorize_move(text, text, text, text, text, text[])'::regprocedure,
    'odl.procurement_require_state(text, text, text, text[], text)'::regprocedure;
-- The invariants' triggers, all enabled (traceability_api adds
-- stock_moves_index_serials, which is not one of them).
select 1 / (count(*) = 15)::int
from pg_catalog.pg_trigger as t
where t.tgrelid in (
    'odl.suppliers'::regclass, 'odl.rfqs'::regclass, 'odl.rfq_lines'::regclass, 'odl.bids'::regclass,
    'odl.purchase_orders'::regclass, 'odl.po_lines'::regclass, 'odl.shipments'::regclass, 'odl.receipts'::regclass,
    'odl.stock_moves'::regclass, 'odl.warranty_claims'::regclass, 'odl.returns'::regclass
)
and not t.tgisinternal and t.tgenabled = 'O' and t.tgname <> 'stock_moves_index_serials';
select supplier_id, open_claims from odl.analyst_open_warranty_claims where false;
select po_line_id, unit_price from odl.analyst_order_lines where false;
select location, qty from odl.analyst_stock where false;
select 1 / (count(*) = 3)::int
from pg_catalog.pg_class as c
where c.oid in (
    'odl.analyst_open_warranty_claims'::regclass, 'odl.analyst_order_lines'::regclass, 'odl.analyst_stock'::regclass
)
and 'security_barrier=true' = any(c.reloptions)
and pg_catalog.has_table_privilege('odl_analyst', c.oid, 'SELECT')
and not pg_catalog.has_table_privilege('odl_app', c.oid, 'SELECT');
select 1 / (count(*) = 10)::int
from pg_catalog.pg_policies
where schemaname = 'odl' and policyname = 'project_rights' and permissive = 'RESTRICTIVE';
select 'odl.odl_readable_project_sections()'::regprocedure;
