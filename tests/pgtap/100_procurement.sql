-- Procurement's shape (tenant keys, forced RLS, the named invariants) and
-- the database's refusals of writes that bypass the API: the state
-- machines' trigger and the invariants hold for the superuser too.
-- tests/python/test_procurement.py drives the API, role by role, and the
-- concurrent writers.
begin;
select plan(20);

select col_is_pk(
    'odl', 'suppliers', array['tenant_id', 'supplier_id'], 'suppliers: primary key (tenant_id, supplier_id)'
);
select col_is_pk(
    'odl', 'rfq_lines', array['tenant_id', 'rfq_line_id'], 'rfq_lines: primary key (tenant_id, rfq_line_id)'
);
select col_is_pk(
    'odl', 'stock_balances', array['tenant_id', 'project_id', 'location', 'component_ref', 'lot', 'status'],
    'stock_balances: one balance per project, location, component, lot and state'
);
select col_is_pk(
    'odl', 'serials', array['tenant_id', 'component_ref', 'serial_no'],
    'serials: one row, so one place, per serial of a component'
);
select policies_are('odl', 'stock_balances', array['tenant_isolation']);
select is_empty(
    $$
        select c.relname
        from pg_catalog.pg_class as c
        inner join pg_catalog.pg_attribute as a on c.oid = a.attrelid and a.attname = 'tenant_id'
        where c.relnamespace = 'odl'::regnamespace and c.relkind = 'r'
            and c.relname in (
                'suppliers', 'rfqs', 'rfq_lines', 'bids', 'bid_lines', 'purchase_orders', 'po_lines', 'shipments',
                'receipts', 'stock_balances', 'stock_moves', 'serials', 'warranty_claims', 'returns'
            )
            and not (c.relrowsecurity and c.relforcerowsecurity)
    $$,
    'every procurement table has forced row-level security'
);
select results_eq(
    $$
        select count(*)::int from odl.procurement_transitions as t
        where not exists (select from odl.procurement_actions as a where a.action = t.action)
    $$,
    array[0],
    'every transition names an action of odl.procurement_actions'
);
select is_empty(
    $$select a.section from odl.procurement_actions as a except select s.section from odl.rbac_sections as s$$,
    'every procurement action needs a right on a section of the policy'
);
select table_privs_are('odl', 'bid_lines', 'odl_app', array[]::text[], 'odl_app reads no bid prices');
select table_privs_are('odl', 'po_lines', 'odl_app', array[]::text[], 'odl_app reads no order prices');

-- Fixtures, as the superuser: a tenant, a user, a project, an awarded line
-- ordered in full and received in part.
select odl.odl_create_tenant('pgtap-procurement', 'EU') as tenant_id \gset
select odl.odl_create_user(:'tenant_id', 'buyer@pgtap.example', 'supplier_manager') as user_id \gset
insert into odl.projects (tenant_id, project_id, name, created_by)
values (:'tenant_id', odl.odl_ulid(), 'Procured', :'user_id')
returning project_id as project_id \gset
insert into odl.suppliers (tenant_id, supplier_id, name, status, created_by)
values (:'tenant_id', 'SUP-PGTAP', 'Pgtap Solar', 'draft', :'user_id');
update odl.suppliers set status = 'approved' where supplier_id = 'SUP-PGTAP';
insert into odl.rfqs (tenant_id, rfq_id, project_id, title, status, created_by)
values (:'tenant_id', 'RFQ-PGTAP', :'project_id', 'Modules', 'draft', :'user_id');
insert into odl.rfq_lines (tenant_id, rfq_id, rfq_line_id, component_ref, qty, uom)
values (:'tenant_id', 'RFQ-PGTAP', 'RFL-PGTAP', 'CMP:ACME:M1:400W:A', 10, 'pcs');
insert into odl.bids (tenant_id, bid_id, rfq_id, round, supplier_id, currency, status, submitted_by)
values
(:'tenant_id', 'BID-PGTAP1', 'RFQ-PGTAP', 1, 'SUP-PGTAP', 'EUR', 'pending', :'user_id');
insert into odl.bid_lines (tenant_id, bid_id, rfq_id, rfq_line_id, unit_price, qty)
values (:'tenant_id', 'BID-PGTAP1', 'RFQ-PGTAP', 'RFL-PGTAP', 100, 10);
update odl.rfq_lines set awarded_bid_id = 'BID-PGTAP1', awarded_qty = 10 where rfq_line_id = 'RFL-PGTAP';
insert into odl.purchase_orders (tenant_id, po_id, project_id, rfq_id, supplier_id, currency, status, issued_by)
values (:'tenant_id', 'PO-PGTAP1', :'project_id', 'RFQ-PGTAP', 'SUP-PGTAP', 'EUR', 'open', :'user_id');
insert into odl.po_lines (
    tenant_id, po_id, po_line_id, supplier_id, rfq_line_id, bid_id, component_ref, uom, qty, unit_price
)
values (
    :'tenant_id', 'PO-PGTAP1', 'POL-PGTAP1', 'SUP-PGTAP', 'RFL-PGTAP', 'BID-PGTAP1', 'CMP:ACME:M1:400W:A', 'pcs', 10,
    100
);
insert into odl.receipts (tenant_id, receipt_id, po_id, po_line_id, qty, location, received_by)
values (:'tenant_id', 'RCV-PGTAP1', 'PO-PGTAP1', 'POL-PGTAP1', 4, 'A', :'user_id');
insert into odl.stock_moves (
    tenant_id, move_id, project_id, component_ref, qty, from_status, to_location, to_status, receipt_id, moved_by
)
values (
    :'tenant_id', 'MOV-PGTAP1', :'project_id', 'CMP:ACME:M1:400W:A', 4, '', 'A', 'in_stock', 'RCV-PGTAP1', :'user_id'
);

select results_eq(
    $$select ordered_qty, received_qty from odl.rfq_lines, odl.po_lines where po_line_id = 'POL-PGTAP1'$$,
    $$values (10::numeric, 4::numeric)$$,
    'the triggers count what is ordered and received'
);
select throws_ok(
    $$update odl.suppliers set status = 'draft' where supplier_id = 'SUP-PGTAP'$$,
    'ODQ01', 'a supplier cannot move from approved to draft',
    'a move the state machine lacks is refused whoever writes'
);
select throws_ok(
    $$insert into odl.rfqs (tenant_id, rfq_id, project_id, title, status, created_by)
      select tenant_id, 'RFQ-PGTAP2', project_id, 'x', 'awarded', created_by from odl.rfqs where rfq_id = 'RFQ-PGTAP'$$,
    'ODQ01', 'a rfq cannot move from (new) to awarded',
    'a record starts in its first state'
);
select throws_ok(
    $$update odl.rfq_lines set awarded_qty = 9 where rfq_line_id = 'RFL-PGTAP'$$,
    'ODQ03', 'RFQ line RFL-PGTAP is awarded already',
    'an award never changes'
);
select throws_ok(
    $$insert into odl.po_lines (tenant_id, po_id, po_line_id, supplier_id, rfq_line_id, bid_id, component_ref, uom,
          qty, unit_price)
      select tenant_id, po_id, 'POL-PGTAP2', supplier_id, rfq_line_id, bid_id, component_ref, uom, 1, 100
      from odl.po_lines where po_line_id = 'POL-PGTAP1'$$,
    'ODQ04', 'ordering 1 more would exceed the award of RFQ line RFL-PGTAP',
    'ordered <= awarded'
);
select throws_ok(
    $$insert into odl.receipts (tenant_id, receipt_id, po_id, po_line_id, qty, location, received_by)
      select tenant_id, 'RCV-PGTAP2', po_id, po_line_id, 7, 'A', received_by from odl.receipts
      where receipt_id = 'RCV-PGTAP1'$$,
    'ODQ05', 'receiving 7 would exceed PO line POL-PGTAP1',
    'received <= ordered'
);
select throws_ok(
    $$insert into odl.stock_moves (tenant_id, move_id, project_id, component_ref, qty, from_location, from_status,
          to_status, moved_by)
      select tenant_id, 'MOV-PGTAP2', project_id, component_ref, 5, 'A', 'in_stock', 'scrap', moved_by
      from odl.stock_moves where move_id = 'MOV-PGTAP1'$$,
    'ODQ06', 'stock of CMP:ACME:M1:400W:A at A (in_stock) would go negative',
    'stock is never negative'
);
select throws_ok(
    $$update odl.stock_balances set qty = -1$$,
    '23514', null,
    'the balance''s CHECK constraint stands behind the trigger'
);
select throws_ok(
    $$delete from odl.stock_moves$$,
    'ODQ09', 'stock_moves are a ledger: rows are never updated or deleted',
    'the stock ledger is append-only'
);
update odl.purchase_orders set status = 'cancelled' where po_id = 'PO-PGTAP1';
select results_eq(
    $$select ordered_qty from odl.rfq_lines where rfq_line_id = 'RFL-PGTAP'$$,
    $$values (4::numeric)$$,
    'a cancelled order gives back to the award what it did not receive'
);

select * from finish();
rollback;
