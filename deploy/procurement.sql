-- Deploy odl-db:procurement to pg
-- requires: tenancy
-- requires: access
-- The procurement ledger: suppliers, RFQs with lines, bids with per-line
-- prices, purchase orders with lines, shipments, receipts, stock by
-- location, lot and serial, warranty claims and returns (RMA). Components
-- are named by the tenant's component identity (component_ref text), never
-- by a key into a projection, so no document change can break a row here.
--
-- The states and who may move them are data (procurement_transitions,
-- procurement_actions). The quantities that must never cross each other
-- are kept as running totals on the row that bounds them, maintained by
-- triggers of change procurement_api and guarded by the named CHECK
-- constraints below, so that no writer, whatever path it takes, can leave
-- them crossed.

begin;

-- What each procurement action needs: a right on a section of the policy
-- (odl.rbac_sections) where the record's project hangs, or, for the
-- tenant-level suppliers, in the user's coarse role. four_eyes: the user
-- who made the record may not take the action.
create table odl.procurement_actions (
    action text primary key,
    section text not null,
    rights text not null,
    four_eyes boolean not null default false,
    description text not null,
    constraint procurement_actions_rights_valid check (rights ~ '^[RWPAXS]+$')
);
comment on table odl.procurement_actions is
'Procurement actions and the right each needs (one of rights on section), from the R/A of the ODL-SD '
'supplements: suppliers, RFQs, bids, award and POs by supplier_manager (W on libraries) approved by '
'project_manager (A on libraries); receipts and stock by engineer (W on instances); warranty claims by '
'technician_operator (W on operations) decided by compliance_officer (A on compliance)';
comment on column odl.procurement_actions.four_eyes is 'The user who made the record may not take this action';
comment on constraint procurement_actions_rights_valid on odl.procurement_actions is
'Rights are letters of the policy''s rights codes';

insert into odl.procurement_actions (action, section, rights, four_eyes, description) values
('supplier.create', 'libraries', 'W', false, 'Define a supplier (draft)'),
('supplier.approve', 'libraries', 'A', true, 'Approve a supplier, or approve an inactive one again'),
('supplier.deactivate', 'libraries', 'W', false, 'Make an approved supplier inactive'),
('rfq.create', 'libraries', 'W', false, 'Draft an RFQ with its lines'),
('rfq.issue', 'libraries', 'W', false, 'Issue a drafted RFQ'),
('rfq.open_bidding', 'libraries', 'W', false, 'Open bidding, or a new round after evaluation'),
('rfq.close_bidding', 'libraries', 'W', false, 'Close bidding and start the evaluation'),
('rfq.award', 'libraries', 'A', false, 'Award RFQ lines to bids'),
('rfq.cancel', 'libraries', 'W', false, 'Cancel an open RFQ'),
('bid.submit', 'libraries', 'W', false, 'Record a supplier''s bid'),
('bid.decide', 'libraries', 'A', false, 'Mark bids won or lost (by the award)'),
('po.issue', 'libraries', 'W', false, 'Issue a purchase order against awarded lines'),
('po.receive', 'instances', 'W', false, 'Receive goods against a purchase order line'),
('po.close', 'libraries', 'W', false, 'Close a purchase order'),
('po.cancel', 'libraries', 'W', false, 'Cancel a purchase order (what is unreceived)'),
('shipment.create', 'libraries', 'W', false, 'Plan a shipment of a purchase order'),
('shipment.update', 'libraries', 'W', false, 'Move a shipment along its states'),
(
    'stock.move', 'instances', 'W', false,
    'Move stock between locations and states: reserve, install, quarantine, restock, scrap'
),
('claim.open', 'operations', 'W', false, 'Open a warranty claim'),
('claim.review', 'operations', 'W', false, 'Start reviewing a warranty claim'),
('claim.decide', 'compliance', 'A', false, 'Resolve or reject a warranty claim'),
('rma.request', 'libraries', 'W', false, 'Request a return to the supplier'),
('rma.authorize', 'libraries', 'A', true, 'Authorize or reject a requested return'),
('rma.cancel', 'libraries', 'W', false, 'Cancel a return not yet shipped'),
('rma.ship', 'libraries', 'W', false, 'Ship a return: the goods leave stock'),
('rma.receive', 'libraries', 'W', false, 'Record that the supplier received the return'),
('rma.credit', 'libraries', 'A', false, 'Record the supplier''s credit note, or its rejection');

-- Every state of every procurement record, and every move between them.
-- from_status '' is a record's creation. A trigger on each table refuses
-- any other move (ODQ01), whoever writes.
create table odl.procurement_transitions (
    entity text not null,
    from_status text not null,
    to_status text not null,
    action text not null references odl.procurement_actions (action),
    primary key (entity, from_status, to_status, action),
    constraint procurement_transitions_moves check (
        from_status <> to_status or (entity, action) = ('stock', 'stock.move')
    )
);
comment on table odl.procurement_transitions is
'The state machines of the procurement records (ODL-SD supplements section 2, their derived transitions): '
'entity, from_status ('''' for creation), to_status, and the action that makes the move';
comment on constraint procurement_transitions_moves on odl.procurement_transitions is
'A transition changes the state, but for a stock transfer (in_stock to in_stock at another location)';

insert into odl.procurement_transitions (entity, from_status, to_status, action) values
('supplier', '', 'draft', 'supplier.create'),
('supplier', 'draft', 'approved', 'supplier.approve'),
('supplier', 'approved', 'inactive', 'supplier.deactivate'),
('supplier', 'inactive', 'approved', 'supplier.approve'),
('rfq', '', 'draft', 'rfq.create'),
('rfq', 'draft', 'issued', 'rfq.issue'),
('rfq', 'issued', 'bidding', 'rfq.open_bidding'),
('rfq', 'bidding', 'evaluating', 'rfq.close_bidding'),
('rfq', 'evaluating', 'bidding', 'rfq.open_bidding'),
('rfq', 'evaluating', 'awarded', 'rfq.award'),
('rfq', 'draft', 'cancelled', 'rfq.cancel'),
('rfq', 'issued', 'cancelled', 'rfq.cancel'),
('rfq', 'bidding', 'cancelled', 'rfq.cancel'),
('rfq', 'evaluating', 'cancelled', 'rfq.cancel'),
('bid', '', 'pending', 'bid.submit'),
('bid', 'pending', 'won', 'bid.decide'),
('bid', 'pending', 'lost', 'bid.decide'),
('po', '', 'open', 'po.issue'),
('po', 'open', 'partially_received', 'po.receive'),
('po', 'open', 'closed', 'po.receive'),
('po', 'partially_received', 'closed', 'po.receive'),
('po', 'open', 'closed', 'po.close'),
('po', 'partially_received', 'closed', 'po.close'),
('po', 'open', 'cancelled', 'po.cancel'),
('po', 'partially_received', 'cancelled', 'po.cancel'),
('shipment', '', 'planned', 'shipment.create'),
('shipment', 'planned', 'in_transit', 'shipment.update'),
('shipment', 'planned', 'cancelled', 'shipment.update'),
('shipment', 'in_transit', 'delivered', 'shipment.update'),
('shipment', 'in_transit', 'exception', 'shipment.update'),
('shipment', 'exception', 'in_transit', 'shipment.update'),
('shipment', 'exception', 'delivered', 'shipment.update'),
('shipment', 'exception', 'cancelled', 'shipment.update'),
('stock', '', 'in_stock', 'po.receive'),
('stock', 'in_stock', 'in_stock', 'stock.move'),
('stock', 'in_stock', 'reserved', 'stock.move'),
('stock', 'reserved', 'installed', 'stock.move'),
('stock', 'in_stock', 'quarantine', 'stock.move'),
('stock', 'reserved', 'quarantine', 'stock.move'),
('stock', 'quarantine', 'in_stock', 'stock.move'),
('stock', 'quarantine', 'scrap', 'stock.move'),
('stock', 'in_stock', 'returned', 'rma.ship'),
('stock', 'quarantine', 'returned', 'rma.ship'),
('claim', '', 'open', 'claim.open'),
('claim', 'open', 'in_review', 'claim.review'),
('claim', 'in_review', 'resolved', 'claim.decide'),
('claim', 'in_review', 'rejected', 'claim.decide'),
('rma', '', 'requested', 'rma.request'),
('rma', 'requested', 'authorized', 'rma.authorize'),
('rma', 'requested', 'rejected', 'rma.authorize'),
('rma', 'requested', 'cancelled', 'rma.cancel'),
('rma', 'authorized', 'in_transit', 'rma.ship'),
('rma', 'authorized', 'cancelled', 'rma.cancel'),
('rma', 'in_transit', 'received', 'rma.receive'),
('rma', 'received', 'credited', 'rma.credit'),
('rma', 'received', 'rejected', 'rma.credit');
create table odl.suppliers (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    supplier_id text not null,
    name text not null,
    gln text,
    email text,
    status text not null,
    created_by odl.ulid not null,
    created_at timestamptz not null default now(),
    approved_by odl.ulid,
    approved_at timestamptz,
    primary key (tenant_id, supplier_id),
    foreign key (tenant_id, created_by) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, approved_by) references odl.users (tenant_id, user_id),
    constraint suppliers_id_format check (supplier_id ~ '^SUP-[A-Z0-9]{3,}$'),
    constraint suppliers_name_length check (char_length(btrim(name)) between 2 and 120),
    constraint suppliers_gln_format check (gln ~ '^[0-9]{13}$')
);
comment on table odl.suppliers is
'The tenant''s suppliers with their qualification state: draft, approved, inactive (only approved suppliers bid)';
comment on constraint suppliers_id_format on odl.suppliers is 'SUP- and at least three upper-case letters or digits';
comment on constraint suppliers_name_length on odl.suppliers is 'A name of 2 to 120 characters';
comment on constraint suppliers_gln_format on odl.suppliers is 'A GS1 Global Location Number: 13 digits';

create table odl.rfqs (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    rfq_id text not null,
    project_id odl.ulid not null,
    title text not null,
    status text not null,
    round integer not null default 1,
    deadline timestamptz,
    created_by odl.ulid not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, rfq_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    foreign key (tenant_id, created_by) references odl.users (tenant_id, user_id),
    constraint rfqs_id_format check (rfq_id ~ '^RFQ-.{5,}$'),
    constraint rfqs_round_positive check (round >= 1)
);
create index rfqs_tenant_id_project_id_idx on odl.rfqs (tenant_id, project_id);
comment on table odl.rfqs is
'Requests for quotation of a project: draft, issued, bidding, evaluating, awarded, cancelled';
comment on column odl.rfqs.round is 'The bidding round; evaluating back to bidding starts the next';
comment on constraint rfqs_id_format on odl.rfqs is 'RFQ- and at least five characters';
comment on constraint rfqs_round_positive on odl.rfqs is 'Rounds count from 1';

create table odl.rfq_lines (
    tenant_id odl.ulid not null,
    rfq_id text not null,
    rfq_line_id text not null,
    component_ref text not null,
    spec_summary text,
    qty numeric not null,
    uom text not null,
    awarded_bid_id text,
    awarded_qty numeric,
    ordered_qty numeric not null default 0,
    primary key (tenant_id, rfq_line_id),
    constraint rfq_lines_line_of_rfq unique (tenant_id, rfq_id, rfq_line_id),
    constraint rfq_lines_awarded_bid unique (tenant_id, rfq_line_id, awarded_bid_id),
    foreign key (tenant_id, rfq_id) references odl.rfqs (tenant_id, rfq_id),
    constraint rfq_lines_id_format check (rfq_line_id ~ '^RFL-.{5,}$'),
    constraint rfq_lines_component_ref check (char_length(btrim(component_ref)) between 1 and 200),
    constraint rfq_lines_spec_summary check (char_length(spec_summary) <= 500),
    constraint rfq_lines_qty check (qty >= 0),
    constraint rfq_lines_uom check (uom in ('pcs', 'm', 'kg', 'set', 'pair', 'roll')),
    constraint rfq_lines_award_whole check ((awarded_bid_id is null) = (awarded_qty is null) and awarded_qty > 0),
    constraint rfq_lines_ordered_within_award check (ordered_qty >= 0 and ordered_qty <= coalesce(awarded_qty, 0))
);
comment on table odl.rfq_lines is
'What an RFQ asks for, per component; the award (one bid per line, never changed once made) and the running '
'total ordered against it';
comment on column odl.rfq_lines.component_ref is
'The component as the tenant names it (component_id or part number text): no key into a projection';
comment on column odl.rfq_lines.awarded_bid_id is 'The one bid awarded this line; set once, by odl_award_rfq()';
comment on column odl.rfq_lines.awarded_qty is 'The quantity awarded: the bid''s quantity, at most the line''s';
comment on column odl.rfq_lines.ordered_qty is
'Sum of the quantities of purchase order lines against this line (of a cancelled order: what it received); '
'kept by a trigger on po_lines and purchase_orders';
comment on constraint rfq_lines_id_format on odl.rfq_lines is 'RFL- and at least five characters';
comment on constraint rfq_lines_component_ref on odl.rfq_lines is 'A component reference of 1 to 200 characters';
comment on constraint rfq_lines_spec_summary on odl.rfq_lines is 'At most 500 characters';
comment on constraint rfq_lines_qty on odl.rfq_lines is 'Quantities are not negative';
comment on constraint rfq_lines_uom on odl.rfq_lines is 'The ODL-SD units of measure';
comment on constraint rfq_lines_award_whole on odl.rfq_lines is 'An award names its bid and a positive quantity';
comment on constraint rfq_lines_ordered_within_award on odl.rfq_lines is
'Invariant: ordered <= awarded (nothing is ordered on a line not awarded)';

create table odl.bids (
    tenant_id odl.ulid not null,
    bid_id text not null,
    rfq_id text not null,
    round integer not null,
    supplier_id text not null,
    currency text not null,
    incoterms text not null default 'DAP',
    valid_until timestamptz,
    status text not null,
    submitted_by odl.ulid not null,
    submitted_at timestamptz not null default now(),
    primary key (tenant_id, bid_id),
    constraint bids_bid_of_rfq unique (tenant_id, bid_id, rfq_id),
    constraint bids_bid_of_supplier unique (tenant_id, bid_id, supplier_id),
    constraint bids_one_per_supplier_and_round unique (tenant_id, rfq_id, round, supplier_id),
    foreign key (tenant_id, rfq_id) references odl.rfqs (tenant_id, rfq_id),
    foreign key (tenant_id, supplier_id) references odl.suppliers (tenant_id, supplier_id),
    foreign key (tenant_id, submitted_by) references odl.users (tenant_id, user_id),
    constraint bids_id_format check (bid_id ~ '^BID-.{5,}$'),
    constraint bids_currency check (currency ~ '^[A-Z]{3}$'),
    constraint bids_incoterms check (incoterms in ('EXW', 'FOB', 'CIF', 'DAP', 'DDP'))
);
comment on table odl.bids is
'A supplier''s bid in a round of an RFQ: pending, won or lost. Its prices are in bid_lines';
comment on constraint bids_id_format on odl.bids is 'BID- and at least five characters';
comment on constraint bids_currency on odl.bids is 'An ISO 4217 code: three capitals';
comment on constraint bids_incoterms on odl.bids is 'The Incoterms the supplements name';

create table odl.bid_lines (
    tenant_id odl.ulid not null,
    bid_id text not null,
    rfq_id text not null,
    rfq_line_id text not null,
    unit_price numeric not null,
    qty numeric not null,
    lead_time_days integer,
    primary key (tenant_id, bid_id, rfq_line_id),
    foreign key (tenant_id, bid_id, rfq_id) references odl.bids (tenant_id, bid_id, rfq_id),
    foreign key (tenant_id, rfq_id, rfq_line_id) references odl.rfq_lines (tenant_id, rfq_id, rfq_line_id),
    constraint bid_lines_unit_price check (unit_price >= 0),
    constraint bid_lines_qty check (qty > 0),
    constraint bid_lines_lead_time check (lead_time_days >= 0)
);
create index bid_lines_tenant_id_rfq_line_id_idx on odl.bid_lines (tenant_id, rfq_line_id);
comment on table odl.bid_lines is
'A bid''s price per RFQ line (of the same RFQ). Prices are as confidential as the policy''s classified part '
'/libraries/components/*/pricing: odl_app and analysts read them only through redacting functions';
comment on constraint bid_lines_unit_price on odl.bid_lines is 'Prices are not negative';
comment on constraint bid_lines_qty on odl.bid_lines is 'A bid offers a positive quantity';
comment on constraint bid_lines_lead_time on odl.bid_lines is 'Lead times are not negative';

-- bid_lines' key leads with bid_id; the award's key needs its own unique index.
create unique index bid_lines_award_target_idx on odl.bid_lines (tenant_id, bid_id, rfq_id, rfq_line_id);
alter table odl.rfq_lines add constraint rfq_lines_awarded_bid_line
foreign key (tenant_id, awarded_bid_id, rfq_id, rfq_line_id)
references odl.bid_lines (tenant_id, bid_id, rfq_id, rfq_line_id);
comment on constraint rfq_lines_awarded_bid_line on odl.rfq_lines is
'The awarded bid bid on this very line';

create table odl.purchase_orders (
    tenant_id odl.ulid not null,
    po_id text not null,
    project_id odl.ulid not null,
    rfq_id text not null,
    supplier_id text not null,
    currency text not null,
    incoterms text not null default 'DAP',
    delivery_mode text not null default 'direct',
    status text not null,
    issued_by odl.ulid not null,
    issued_at timestamptz not null default now(),
    primary key (tenant_id, po_id),
    constraint purchase_orders_po_of_supplier unique (tenant_id, po_id, supplier_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    foreign key (tenant_id, rfq_id) references odl.rfqs (tenant_id, rfq_id),
    foreign key (tenant_id, supplier_id) references odl.suppliers (tenant_id, supplier_id),
    foreign key (tenant_id, issued_by) references odl.users (tenant_id, user_id),
    constraint purchase_orders_id_format check (po_id ~ '^PO-.{6,}$'),
    constraint purchase_orders_currency check (currency ~ '^[A-Z]{3}$'),
    constraint purchase_orders_incoterms check (incoterms in ('EXW', 'FOB', 'CIF', 'DAP', 'DDP')),
    constraint purchase_orders_delivery_mode check (delivery_mode in ('pickup', 'collection_point', 'direct'))
);
create index purchase_orders_tenant_id_project_id_idx on odl.purchase_orders (tenant_id, project_id);
create index purchase_orders_tenant_id_supplier_id_idx on odl.purchase_orders (tenant_id, supplier_id);
comment on table odl.purchase_orders is
'Purchase orders to one supplier against awarded RFQ lines: open, partially_received, closed, cancelled';
comment on constraint purchase_orders_id_format on odl.purchase_orders is 'PO- and at least six characters';
comment on constraint purchase_orders_currency on odl.purchase_orders is 'An ISO 4217 code: three capitals';
comment on constraint purchase_orders_incoterms on odl.purchase_orders is 'The Incoterms the supplements name';
comment on constraint purchase_orders_delivery_mode on odl.purchase_orders is 'The delivery modes of ODL-SD';

create table odl.po_lines (
    tenant_id odl.ulid not null,
    po_id text not null,
    po_line_id text not null,
    supplier_id text not null,
    rfq_line_id text not null,
    bid_id text not null,
    component_ref text not null,
    uom text not null,
    tracking_level text not null default 'quantity',
    qty numeric not null,
    unit_price numeric not null,
    over_receipt_pct numeric not null default 0,
    received_qty numeric not null default 0,
    returned_qty numeric not null default 0,
    primary key (tenant_id, po_line_id),
    constraint po_lines_line_of_po unique (tenant_id, po_id, po_line_id),
    foreign key (tenant_id, po_id, supplier_id) references odl.purchase_orders (tenant_id, po_id, supplier_id),
    -- Ordered only from the bid that won the line, and only from its supplier.
    foreign key (tenant_id, rfq_line_id, bid_id) references odl.rfq_lines (tenant_id, rfq_line_id, awarded_bid_id),
    foreign key (tenant_id, bid_id, supplier_id) references odl.bids (tenant_id, bid_id, supplier_id),
    constraint po_lines_id_format check (po_line_id ~ '^POL-.{5,}$'),
    constraint po_lines_qty check (qty > 0),
    constraint po_lines_unit_price check (unit_price >= 0),
    constraint po_lines_tracking_level check (tracking_level in ('quantity', 'lot', 'serial')),
    constraint po_lines_serial_whole check (tracking_level <> 'serial' or (qty = trunc(qty) and over_receipt_pct = 0)),
    constraint po_lines_over_receipt_pct check (over_receipt_pct between 0 and 10),
    constraint po_lines_received_within_tolerance check (
        received_qty >= 0 and received_qty <= qty * (1 + over_receipt_pct / 100)
    ),
    constraint po_lines_returned_within_received check (returned_qty >= 0 and returned_qty <= received_qty)
);
create index po_lines_tenant_id_rfq_line_id_idx on odl.po_lines (tenant_id, rfq_line_id, bid_id);
create index po_lines_tenant_id_bid_id_idx on odl.po_lines (tenant_id, bid_id, supplier_id);
comment on table odl.po_lines is
'Purchase order lines: quantity and price (confidential like bid prices), how tracked, and the running totals '
'received (kept by a trigger on receipts) and returned (kept by a trigger on returns)';
comment on column odl.po_lines.over_receipt_pct is
'The receiving tolerance: up to qty * (1 + over_receipt_pct / 100) may be received; 0 to 10, 0 by default '
'and always 0 for serial-tracked lines';
comment on constraint po_lines_id_format on odl.po_lines is 'POL- and at least five characters';
comment on constraint po_lines_qty on odl.po_lines is 'A PO line is accepted only with qty > 0';
comment on constraint po_lines_unit_price on odl.po_lines is 'Prices are not negative';
comment on constraint po_lines_tracking_level on odl.po_lines is 'tracking_level_resolved: quantity, lot or serial';
comment on constraint po_lines_serial_whole on odl.po_lines is
'Serial-tracked lines order whole units and receive no more than ordered';
comment on constraint po_lines_over_receipt_pct on odl.po_lines is 'The receiving tolerance is 0 to 10 percent';
comment on constraint po_lines_received_within_tolerance on odl.po_lines is
'Invariant: received <= ordered, within the line''s tolerance';
comment on constraint po_lines_returned_within_received on odl.po_lines is
'Invariant: what open returns take back is at most what was received';

create table odl.shipments (
    tenant_id odl.ulid not null,
    shipment_id text not null,
    po_id text not null,
    status text not null,
    carrier text,
    waybill text,
    created_by odl.ulid not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, shipment_id),
    foreign key (tenant_id, po_id) references odl.purchase_orders (tenant_id, po_id),
    foreign key (tenant_id, created_by) references odl.users (tenant_id, user_id),
    constraint shipments_id_format check (shipment_id ~ '^SHP-.{6,}$')
);
create index shipments_tenant_id_po_id_idx on odl.shipments (tenant_id, po_id);
comment on table odl.shipments is
'Shipments of a purchase order: planned, in_transit, delivered, exception, cancelled (their tracking events '
'live with the EPCIS capture)';
comment on constraint shipments_id_format on odl.shipments is 'SHP- and at least six characters';

create table odl.receipts (
    tenant_id odl.ulid not null,
    receipt_id text not null,
    po_id text not null,
    po_line_id text not null,
    shipment_id text,
    qty numeric not null,
    location text not null,
    lot text not null default '',
    serials text[] not null default '{}',
    received_by odl.ulid not null,
    received_at timestamptz not null default now(),
    primary key (tenant_id, receipt_id),
    foreign key (tenant_id, po_id, po_line_id) references odl.po_lines (tenant_id, po_id, po_line_id),
    foreign key (tenant_id, shipment_id) references odl.shipments (tenant_id, shipment_id),
    foreign key (tenant_id, received_by) references odl.users (tenant_id, user_id),
    constraint receipts_qty check (qty > 0),
    constraint receipts_serials_count check (cardinality(serials) = 0 or cardinality(serials) = qty)
);
create index receipts_tenant_id_po_line_id_idx on odl.receipts (tenant_id, po_line_id);
create index receipts_tenant_id_shipment_id_idx on odl.receipts (tenant_id, shipment_id);
comment on table odl.receipts is 'Goods received against a purchase order line, into a location (and lot, and serials)';
comment on constraint receipts_qty on odl.receipts is 'A receipt takes a positive quantity';
comment on constraint receipts_serials_count on odl.receipts is 'Serials, when given, one per unit received';

create table odl.stock_balances (
    tenant_id odl.ulid not null,
    project_id odl.ulid not null,
    location text not null,
    component_ref text not null,
    lot text not null default '',
    status text not null,
    qty numeric not null default 0,
    primary key (tenant_id, project_id, location, component_ref, lot, status),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    constraint stock_balances_status check (status in ('in_stock', 'reserved', 'quarantine')),
    constraint stock_balances_never_negative check (qty >= 0)
);
comment on table odl.stock_balances is
'Stock on hand of a project by location, component, lot ('''' for none) and state; kept by a trigger on '
'stock_moves. Installed, scrapped and returned goods have left it';
comment on constraint stock_balances_status on odl.stock_balances is 'The inventory states that hold stock';
comment on constraint stock_balances_never_negative on odl.stock_balances is 'Invariant: stock is never negative';

create table odl.stock_moves (
    tenant_id odl.ulid not null,
    move_id text not null,
    project_id odl.ulid not null,
    component_ref text not null,
    lot text not null default '',
    qty numeric not null,
    from_location text,
    from_status text not null,
    to_location text,
    to_status text not null,
    serials text[] not null default '{}',
    receipt_id text,
    rma_id text,
    moved_by odl.ulid not null,
    moved_at timestamptz not null default now(),
    primary key (tenant_id, move_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    foreign key (tenant_id, receipt_id) references odl.receipts (tenant_id, receipt_id),
    foreign key (tenant_id, moved_by) references odl.users (tenant_id, user_id),
    constraint stock_moves_qty check (qty > 0),
    constraint stock_moves_serials_count check (cardinality(serials) = 0 or cardinality(serials) = qty),
    constraint stock_moves_ends check (
        (from_status = '') = (from_location is null)
        and (to_status in ('in_stock', 'reserved', 'quarantine')) = (to_location is not null)
    )
);
create index stock_moves_tenant_id_project_id_idx on odl.stock_moves (tenant_id, project_id, component_ref);
comment on table odl.stock_moves is
'The inventory ledger: every quantity that enters (from_status ''''), moves or leaves (installed, scrap, '
'returned) a project''s stock; stock_balances and serials follow it';
comment on constraint stock_moves_qty on odl.stock_moves is 'A move takes a positive quantity';
comment on constraint stock_moves_serials_count on odl.stock_moves is 'Serials, when given, one per unit moved';
comment on constraint stock_moves_ends on odl.stock_moves is
'Goods come from outside ('''', no location) or a location, and go to a location or leave stock';

create table odl.serials (
    tenant_id odl.ulid not null,
    component_ref text not null,
    serial_no text not null,
    project_id odl.ulid not null,
    location text,
    lot text not null default '',
    status text not null,
    po_line_id text,
    updated_at timestamptz not null default now(),
    primary key (tenant_id, component_ref, serial_no),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    foreign key (tenant_id, po_line_id) references odl.po_lines (tenant_id, po_line_id),
    constraint serials_status check (
        status in ('in_stock', 'reserved', 'quarantine', 'installed', 'scrap', 'returned')
    ),
    constraint serials_serial_no check (char_length(serial_no) between 1 and 100)
);
create index serials_tenant_id_place_idx on odl.serials (tenant_id, component_ref, project_id, location, status);
comment on table odl.serials is
'Where each serial of a component is: one row per serial, so a serial is in one place at a time; kept by the '
'trigger on stock_moves';
comment on column odl.serials.location is 'The stock location, or where it was installed, scrapped or sent back';
comment on constraint serials_status on odl.serials is 'The inventory states of the supplements, and returned';
comment on constraint serials_serial_no on odl.serials is 'A serial of 1 to 100 characters';

create table odl.warranty_claims (
    tenant_id odl.ulid not null,
    claim_id text not null,
    project_id odl.ulid not null,
    supplier_id text not null,
    component_ref text not null,
    serial_no text,
    description text not null,
    status text not null,
    opened_by odl.ulid not null,
    opened_at timestamptz not null default now(),
    closed_at timestamptz,
    primary key (tenant_id, claim_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    foreign key (tenant_id, supplier_id) references odl.suppliers (tenant_id, supplier_id),
    foreign key (tenant_id, opened_by) references odl.users (tenant_id, user_id),
    constraint warranty_claims_id_format check (claim_id ~ '^CLAIM-.{4,}$'),
    constraint warranty_claims_description check (char_length(description) between 1 and 2000),
    constraint warranty_claims_closed check ((closed_at is null) = (status in ('open', 'in_review')))
);
create index warranty_claims_tenant_id_supplier_id_idx on odl.warranty_claims (tenant_id, supplier_id, status);
create index warranty_claims_tenant_id_project_id_idx on odl.warranty_claims (tenant_id, project_id);
comment on table odl.warranty_claims is 'Warranty claims against a supplier: open, in_review, resolved, rejected';
comment on constraint warranty_claims_id_format on odl.warranty_claims is 'CLAIM- and at least four characters';
comment on constraint warranty_claims_description on odl.warranty_claims is 'A description of 1 to 2000 characters';
comment on constraint warranty_claims_closed on odl.warranty_claims is 'A decided claim has its closing time';

create table odl.returns (
    tenant_id odl.ulid not null,
    rma_id text not null,
    project_id odl.ulid not null,
    po_id text not null,
    po_line_id text not null,
    qty numeric not null,
    reason_code text not null,
    location text not null,
    from_status text not null default 'in_stock',
    lot text not null default '',
    serials text[] not null default '{}',
    status text not null,
    credit_note_ref text,
    requested_by odl.ulid not null,
    requested_at timestamptz not null default now(),
    primary key (tenant_id, rma_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    foreign key (tenant_id, po_id, po_line_id) references odl.po_lines (tenant_id, po_id, po_line_id),
    foreign key (tenant_id, requested_by) references odl.users (tenant_id, user_id),
    constraint returns_id_format check (rma_id ~ '^RMA-.{5,}$'),
    constraint returns_qty check (qty > 0),
    constraint returns_reason_code check (
        reason_code in ('wrong_item', 'over_order', 'defect', 'damage_transit', 'other')
    ),
    constraint returns_from_status check (from_status in ('in_stock', 'quarantine')),
    constraint returns_serials_count check (cardinality(serials) = 0 or cardinality(serials) = qty)
);
create index returns_tenant_id_po_line_id_idx on odl.returns (tenant_id, po_line_id);
comment on table odl.returns is
'Returns to the supplier (RMA) of part of a PO line: requested, authorized, in_transit, received, credited, '
'rejected, cancelled. The goods leave stock when the return ships';
comment on constraint returns_id_format on odl.returns is 'RMA- and at least five characters';
comment on constraint returns_qty on odl.returns is 'A return takes a positive quantity';
comment on constraint returns_reason_code on odl.returns is 'The reason codes of the supplements';
comment on constraint returns_from_status on odl.returns is 'Returns leave from stock or quarantine';
comment on constraint returns_serials_count on odl.returns is 'Serials, when given, one per unit returned';

-- Foreign keys that the tables above hold but lead with other columns.
create index suppliers_tenant_id_created_by_idx on odl.suppliers (tenant_id, created_by);
create index rfq_lines_tenant_id_rfq_id_idx on odl.rfq_lines (tenant_id, rfq_id);
create index bids_tenant_id_supplier_id_idx on odl.bids (tenant_id, supplier_id);

do $$
declare
    t text;
begin
    foreach t in array array[
        'suppliers', 'rfqs', 'rfq_lines', 'bids', 'bid_lines', 'purchase_orders', 'po_lines', 'shipments',
        'receipts', 'stock_balances', 'stock_moves', 'serials', 'warranty_claims', 'returns'
    ] loop
        execute format('alter table odl.%I enable row level security', t);
        execute format('alter table odl.%I force row level security', t);
        execute format(
            'create policy tenant_isolation on odl.%I '
            'using (tenant_id = (select c.tenant_id from odl.current_context as c)) '
            'with check (tenant_id = (select c.tenant_id from odl.current_context as c))',
            t
        );
        execute format('revoke all on odl.%I from public', t);
    end loop;
end
$$;

revoke all on odl.procurement_actions, odl.procurement_transitions from public;
-- The rules are no secret (the README lists them); applications hold no
-- privilege beyond the API and the tenant's records (RLS). Prices
-- (bid_lines, po_lines) are read only through the redacting functions.
grant select on odl.procurement_actions, odl.procurement_transitions to odl_analyst;
grant select on
odl.suppliers, odl.rfqs, odl.rfq_lines, odl.bids, odl.purchase_orders, odl.shipments, odl.receipts,
odl.stock_balances, odl.stock_moves, odl.serials, odl.warranty_claims, odl.returns
to odl_app;

call odl.adopt_objects();

commit;
