-- Verify odl-db:procurement on pg

select action, section, rights, four_eyes from odl.procurement_actions where false;
select entity, from_status, to_status, action from odl.procurement_transitions where false;
select 1 / (count(*) = 27)::int from odl.procurement_actions;
select supplier_id, status, created_by, approved_by from odl.suppliers where false;
select rfq_id, project_id, status, round from odl.rfqs where false;
select rfq_line_id, component_ref, awarded_bid_id, awarded_qty, ordered_qty from odl.rfq_lines where false;
select bid_id, rfq_id, round, supplier_id, status from odl.bids where false;
select bid_id, rfq_line_id, unit_price, qty from odl.bid_lines where false;
select po_id, supplier_id, status from odl.purchase_orders where false;
select po_line_id, qty, over_receipt_pct, received_qty, returned_qty from odl.po_lines where false;
select shipment_id, po_id, status from odl.shipments where false;
select receipt_id, po_line_id, qty, serials from odl.receipts where false;
select project_id, location, component_ref, lot, status, qty from odl.stock_balances where false;
select move_id, from_location, from_status, to_location, to_status, serials from odl.stock_moves where false;
select component_ref, serial_no, location, status from odl.serials where false;
select claim_id, supplier_id, status from odl.warranty_claims where false;
select rma_id, po_line_id, qty, status from odl.returns where false;
-- The invariants' constraints, and forced RLS on every tenant table.
select 1 / (count(*) = 5)::int
from pg_catalog.pg_constraint as c
where c.conname in (
    'rfq_lines_ordered_within_award', 'po_lines_received_within_tolerance', 'po_lines_returned_within_received',
    'stock_balances_never_negative', 'rfq_lines_awarded_bid_line'
);
select 1 / (count(*) = 14)::int
from pg_catalog.pg_class as c
where c.oid in (
    'odl.suppliers'::regclass, 'odl.rfqs'::regclass, 'odl.rfq_lines'::regclass, 'odl.bids'::regclass,
    'odl.bid_lines'::regclass, 'odl.purchase_orders'::regclass, 'odl.po_lines'::regclass, 'odl.shipments'::regclass,
    'odl.receipts'::regclass, 'odl.stock_balances'::regclass, 'odl.stock_moves'::regclass, 'odl.serials'::regclass,
    'odl.warranty_claims'::regclass, 'odl.returns'::regclass
)
and c.relrowsecurity and c.relforcerowsecurity;
