-- Analysts' questions on procurement, redacted like the other analyst
-- views: only projects the reader may read (odl.readable_project), and
-- prices only with the clearance the policy gives component pricing
-- (odl.prices_visible). Security barriers that run as their owner under
-- RLS.

create or replace view odl.analyst_open_warranty_claims
with (security_barrier)
as
select
    c.supplier_id,
    s.name as supplier_name,
    c.project_id,
    count(*) filter (where c.status = 'open') as open_claims,
    count(*) filter (where c.status = 'in_review') as in_review_claims,
    min(c.opened_at) as oldest_opened_at
from odl.warranty_claims as c
inner join odl.suppliers as s on c.tenant_id = s.tenant_id and c.supplier_id = s.supplier_id
where c.status in ('open', 'in_review') and odl.readable_project(c.project_id)
group by c.supplier_id, s.name, c.project_id;

revoke all on odl.analyst_open_warranty_claims from public;
grant select on odl.analyst_open_warranty_claims to odl_analyst;
comment on view odl.analyst_open_warranty_claims is
'Open warranty claims (open or in review) by supplier and project, of the projects the reader may read '
'(odl_analyst)';
comment on column odl.analyst_open_warranty_claims.supplier_id is 'The supplier the claims are against';
comment on column odl.analyst_open_warranty_claims.supplier_name is 'The supplier''s name';
comment on column odl.analyst_open_warranty_claims.project_id is 'The project whose components are claimed';
comment on column odl.analyst_open_warranty_claims.open_claims is 'Claims not yet in review';
comment on column odl.analyst_open_warranty_claims.in_review_claims is 'Claims in review';
comment on column odl.analyst_open_warranty_claims.oldest_opened_at is 'When the oldest of them was opened';

create or replace view odl.analyst_order_lines
with (security_barrier)
as
select
    o.project_id,
    o.po_id,
    o.supplier_id,
    o.status as po_status,
    l.po_line_id,
    l.component_ref,
    l.uom,
    l.qty as ordered_qty,
    l.received_qty,
    l.returned_qty,
    o.currency,
    o.issued_at,
    case when odl.prices_visible(o.project_id) then l.unit_price end as unit_price
from odl.purchase_orders as o
inner join odl.po_lines as l on o.tenant_id = l.tenant_id and o.po_id = l.po_id
where odl.readable_project(o.project_id);

revoke all on odl.analyst_order_lines from public;
grant select on odl.analyst_order_lines to odl_analyst;
comment on view odl.analyst_order_lines is
'Purchase order lines with what was received and returned, of the projects the reader may read; unit_price '
'is null unless the reader may read supplier prices (odl_analyst)';
comment on column odl.analyst_order_lines.project_id is 'The project the order buys for';
comment on column odl.analyst_order_lines.po_id is 'The purchase order';
comment on column odl.analyst_order_lines.supplier_id is 'The supplier it orders from';
comment on column odl.analyst_order_lines.po_status is 'open, partially_received, closed or cancelled';
comment on column odl.analyst_order_lines.po_line_id is 'The order line';
comment on column odl.analyst_order_lines.component_ref is 'The component, as the tenant names it';
comment on column odl.analyst_order_lines.uom is 'Unit of measure: pcs, m, kg, set, pair or roll';
comment on column odl.analyst_order_lines.ordered_qty is 'The quantity ordered';
comment on column odl.analyst_order_lines.received_qty is 'The quantity received so far';
comment on column odl.analyst_order_lines.returned_qty is 'The quantity in returns not rejected or cancelled';
comment on column odl.analyst_order_lines.currency is 'The order''s currency (ISO 4217)';
comment on column odl.analyst_order_lines.issued_at is 'When the order was issued';
comment on column odl.analyst_order_lines.unit_price is
'The awarded unit price, or null when the reader''s clearance does not reach component pricing';

create or replace view odl.analyst_stock
with (security_barrier)
as
select
    b.project_id,
    b.location,
    b.component_ref,
    b.lot,
    b.status,
    b.qty
from odl.stock_balances as b
where b.qty > 0 and odl.readable_project(b.project_id);

revoke all on odl.analyst_stock from public;
grant select on odl.analyst_stock to odl_analyst;
comment on view odl.analyst_stock is
'Stock on hand by project, location, component, lot and state, of the projects the reader may read (odl_analyst)';
comment on column odl.analyst_stock.project_id is 'The project the stock belongs to';
comment on column odl.analyst_stock.location is 'The stock location (a GLN or a name)';
comment on column odl.analyst_stock.component_ref is 'The component, as the tenant names it';
comment on column odl.analyst_stock.lot is 'The lot; empty when the stock has none';
comment on column odl.analyst_stock.status is 'in_stock, reserved or quarantine';
comment on column odl.analyst_stock.qty is 'The quantity on hand, above zero';
