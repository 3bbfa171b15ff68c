-- The traceability questions for analysts, redacted like the other
-- analyst views: serials, stock and their events only in projects where
-- the reader holds R on instances (with its clearance), components only
-- where it holds R on libraries. Security barriers that run as their owner
-- under RLS; the projects a reader may read are computed once per query.

create or replace view odl.analyst_serials
with (security_barrier)
as
select
    s.project_id,
    s.component_ref,
    s.serial_no,
    s.lot,
    s.status,
    s.location,
    l.supplier_id,
    l.po_id,
    s.po_line_id,
    s.updated_at
from odl.serials as s
left join odl.po_lines as l on s.tenant_id = l.tenant_id and s.po_line_id = l.po_line_id
where s.project_id in (select r.project_id from odl.trace_readable_projects('instances') as r);

revoke all on odl.analyst_serials from public;
grant select on odl.analyst_serials to odl_analyst;
comment on view odl.analyst_serials is
'Where each serial is (state, location) with its lot and the supplier and order it came from, of the projects '
'where the reader may read instances: "every serial of lot L from supplier S installed in project P" and '
'"where is serial X" (odl_analyst)';
comment on column odl.analyst_serials.project_id is 'The project whose stock or plant holds it';
comment on column odl.analyst_serials.component_ref is 'The component, as the tenant names it';
comment on column odl.analyst_serials.serial_no is 'The serial number';
comment on column odl.analyst_serials.lot is 'Its lot; empty when it has none';
comment on column odl.analyst_serials.status is 'in_stock, reserved, quarantine, installed, scrap or returned';
comment on column odl.analyst_serials.location is
'The stock location, or where it was installed, scrapped or sent back';
comment on column odl.analyst_serials.supplier_id is 'The supplier of the order line it was received on';
comment on column odl.analyst_serials.po_id is 'The purchase order it was received on';
comment on column odl.analyst_serials.po_line_id is 'The order line it was received on';
comment on column odl.analyst_serials.updated_at is 'When it last moved';

create or replace view odl.analyst_received_not_installed
with (security_barrier)
as
-- The reader's filter sits above the union: a barrier protects the view's
-- own quals, not those inside the arms of a union.
select
    u.project_id,
    u.component_ref,
    u.lot,
    u.location,
    u.status,
    u.serial_no,
    u.qty,
    u.supplier_id,
    u.po_id,
    u.since
from (
    select
        s.project_id,
        s.component_ref,
        s.lot,
        s.location,
        s.status,
        s.serial_no,
        1::numeric as qty,
        l.supplier_id,
        l.po_id,
        s.updated_at as since
    from odl.serials as s
    left join odl.po_lines as l on s.tenant_id = l.tenant_id and s.po_line_id = l.po_line_id
    where s.status in ('in_stock', 'reserved', 'quarantine')
    union all
    -- Stock without serials: what the balance holds beyond the serials there.
    select
        b.project_id,
        b.component_ref,
        b.lot,
        b.location,
        b.status,
        null::text as serial_no,
        b.qty - n.serials as qty,
        null::text as supplier_id,
        null::text as po_id,
        null::timestamptz as since
    from odl.stock_balances as b
    cross join
        lateral (
            select count(*) as serials
            from odl.serials as s
            where
                s.tenant_id = b.tenant_id and s.component_ref = b.component_ref and s.project_id = b.project_id
                and s.location = b.location and s.status = b.status and s.lot = b.lot
        ) as n
    where b.qty > n.serials
) as u
where u.project_id in (select r.project_id from odl.trace_readable_projects('instances') as r);

revoke all on odl.analyst_received_not_installed from public;
grant select on odl.analyst_received_not_installed to odl_analyst;
comment on view odl.analyst_received_not_installed is
'What was received and is not installed: each serial still in stock, reserved or in quarantine (with its '
'supplier and order), and the quantity of stock without serials, of the projects where the reader may read '
'instances (odl_analyst)';
comment on column odl.analyst_received_not_installed.project_id is 'The project whose stock holds it';
comment on column odl.analyst_received_not_installed.component_ref is 'The component, as the tenant names it';
comment on column odl.analyst_received_not_installed.lot is 'The lot; empty when it has none';
comment on column odl.analyst_received_not_installed.location is 'The stock location';
comment on column odl.analyst_received_not_installed.status is 'in_stock, reserved or quarantine';
comment on column odl.analyst_received_not_installed.serial_no is 'The serial; null for stock without serials';
comment on column odl.analyst_received_not_installed.qty is '1 for a serial, else the quantity without serials';
comment on column odl.analyst_received_not_installed.supplier_id is 'The supplier of a serial''s order line';
comment on column odl.analyst_received_not_installed.po_id is 'The purchase order a serial was received on';
comment on column odl.analyst_received_not_installed.since is 'When a serial last moved';

create or replace view odl.analyst_approved_not_ordered
with (security_barrier)
as
select
    i.project_id,
    i.component_id,
    i.brand,
    i.part_number,
    i.rating_w,
    i.status
from odl.component_index as i
where
    -- Approved, and not yet as far as ordered, by the machine's order.
    i.status in (
        select st.status
        from odl.component_statuses as st
        where
            st.position >= (select a.position from odl.component_statuses as a where a.status = 'approved')
            and st.position < (select o.position from odl.component_statuses as o where o.status = 'ordered')
    )
    and i.project_id in (select r.project_id from odl.trace_readable_projects('libraries') as r)
    and not exists (
        select
        from odl.po_lines as l
        inner join odl.purchase_orders as o on l.tenant_id = o.tenant_id and l.po_id = o.po_id
        where
            l.tenant_id = i.tenant_id and l.component_ref in (i.component_id, i.part_number)
            and o.project_id = i.project_id
    );

revoke all on odl.analyst_approved_not_ordered from public;
grant select on odl.analyst_approved_not_ordered to odl_analyst;
comment on view odl.analyst_approved_not_ordered is
'Components approved (status approved up to purchasing) that no purchase order of their project names by CMP '
'id or part number, of the projects where the reader may read libraries (odl_analyst)';
comment on column odl.analyst_approved_not_ordered.project_id is 'The project whose library holds it';
comment on column odl.analyst_approved_not_ordered.component_id is 'Its CMP id (or entry id, or name)';
comment on column odl.analyst_approved_not_ordered.brand is 'Its brand';
comment on column odl.analyst_approved_not_ordered.part_number is 'Its part number';
comment on column odl.analyst_approved_not_ordered.rating_w is 'Its rating in watts';
comment on column odl.analyst_approved_not_ordered.status is
'component_management.status: approved, available, rfq_open, rfq_awarded or purchasing';
