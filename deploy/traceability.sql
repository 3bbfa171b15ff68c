-- Deploy odl-db:traceability to pg
-- requires: procurement
-- requires: epcis
-- requires: components
-- Traceability across the procurement ledger and the EPCIS events: which
-- captured event records which shipment, receipt or stock move
-- (odl.trace_links), and the indexes that let the traceability questions
-- of sql/110_traceability read the procurement tables by what they ask
-- (lot and project, supplier, component, serial) without touching the heap.

begin;

create table odl.trace_links (
    tenant_id odl.ulid not null,
    event_id text not null,
    kind text not null,
    record_id text not null,
    project_id odl.ulid not null,
    linked_by odl.ulid not null,
    linked_at timestamptz not null default now(),
    shipment_id text generated always as (case when kind = 'shipment' then record_id end) stored,
    receipt_id text generated always as (case when kind = 'receipt' then record_id end) stored,
    move_id text generated always as (case when kind = 'stock_move' then record_id end) stored,
    primary key (tenant_id, event_id, kind, record_id),
    foreign key (tenant_id, event_id) references odl.epcis_event_ids (tenant_id, event_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    foreign key (tenant_id, linked_by) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, shipment_id) references odl.shipments (tenant_id, shipment_id),
    foreign key (tenant_id, receipt_id) references odl.receipts (tenant_id, receipt_id),
    foreign key (tenant_id, move_id) references odl.stock_moves (tenant_id, move_id),
    constraint trace_links_kind check (kind in ('shipment', 'receipt', 'stock_move'))
);
create index trace_links_record_idx on odl.trace_links (tenant_id, kind, record_id) include (event_id);
comment on table odl.trace_links is
'Which EPCIS event records which procurement step: a shipment''s move (shipping, arriving), a receipt '
'(receiving) or a stock move (installing). Written by the odl_trace_ functions, which make the step and '
'capture its event in one transaction';
comment on column odl.trace_links.kind is 'The kind of procurement record: shipment, receipt or stock_move';
comment on column odl.trace_links.record_id is 'The shipment, receipt or stock move the event records';
comment on column odl.trace_links.shipment_id is 'record_id when kind is shipment (for its foreign key)';
comment on column odl.trace_links.receipt_id is 'record_id when kind is receipt (for its foreign key)';
comment on column odl.trace_links.move_id is 'record_id when kind is stock_move (for its foreign key)';
comment on constraint trace_links_kind on odl.trace_links is 'The procurement records an event can record';
comment on index odl.trace_links_record_idx is 'The events of one procurement record';

alter table odl.trace_links enable row level security;
alter table odl.trace_links force row level security;
create policy tenant_isolation on odl.trace_links
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
revoke all on odl.trace_links from public;

-- "Every serial of lot L from supplier S installed in project P": the
-- serials of a project's lot in a state, with the line that bought them,
-- from the index alone; the line's supplier from the next one.
create index serials_trace_lot_idx on odl.serials (tenant_id, project_id, lot, status, po_line_id)
include (component_ref, serial_no, location, updated_at);
comment on index odl.serials_trace_lot_idx is
'Traceability: the serials of a project''s lot by state and PO line (index-only)';
-- "What was received but not installed": a project's serials by state.
create index serials_trace_status_idx on odl.serials (tenant_id, project_id, status)
include (component_ref, serial_no, lot, location, po_line_id, updated_at);
comment on index odl.serials_trace_status_idx is
'Traceability: a project''s serials by state (index-only)';
create index po_lines_trace_supplier_idx on odl.po_lines (tenant_id, po_line_id) include (supplier_id, po_id);
comment on index odl.po_lines_trace_supplier_idx is
'Traceability: the supplier and order of a PO line without reading the line (whose prices are confidential)';
-- "Components approved but never ordered": is there a PO line for it?
create index po_lines_trace_component_idx on odl.po_lines (tenant_id, component_ref) include (po_id);
comment on index odl.po_lines_trace_component_idx is 'Traceability: the order lines of a component';

-- A serial's history: the stock moves that name it. A GIN index on
-- stock_moves.serials cannot serve it: under row-level security only
-- leakproof operators become index conditions, and @> is not one. So each
-- move's serials are kept here, by a trigger on stock_moves (change
-- traceability_api), with the moves written before it.
create table odl.stock_move_serials (
    tenant_id odl.ulid not null,
    component_ref text not null,
    serial_no text not null,
    moved_at timestamptz not null,
    move_id text not null,
    primary key (tenant_id, component_ref, serial_no, moved_at, move_id),
    foreign key (tenant_id, move_id) references odl.stock_moves (tenant_id, move_id)
);
create index stock_move_serials_move_idx on odl.stock_move_serials (tenant_id, move_id);
comment on table odl.stock_move_serials is
'Each serial a stock move names (odl.stock_moves.serials), keyed by the serial: a serial''s moves from a btree, '
'which row-level security lets the planner use. Kept by the trigger stock_moves_index_serials';
comment on column odl.stock_move_serials.moved_at is 'The move''s moved_at';
comment on index odl.stock_move_serials_move_idx is 'The serials of one move (its foreign key)';
alter table odl.stock_move_serials enable row level security;
alter table odl.stock_move_serials force row level security;
create policy tenant_isolation on odl.stock_move_serials
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
revoke all on odl.stock_move_serials from public;
set local row_security = off;
insert into odl.stock_move_serials (tenant_id, component_ref, serial_no, moved_at, move_id)
select m.tenant_id, m.component_ref, s.serial_no, m.moved_at, m.move_id
from odl.stock_moves as m
cross join lateral unnest(m.serials) as s (serial_no);
reset row_security;
create index component_index_trace_project_idx on odl.component_index (tenant_id, project_id)
include (component_key, component_id, part_number, gtin, status);
comment on index odl.component_index_trace_project_idx is
'Traceability: a project''s components with their GTIN (the EPC of a serial) and status';
create index warranty_claims_trace_serial_idx on odl.warranty_claims (tenant_id, component_ref, serial_no);
comment on index odl.warranty_claims_trace_serial_idx is 'Traceability: the claims on a serial';

call odl.adopt_objects();

commit;
