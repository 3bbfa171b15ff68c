-- Purchase orders against awarded RFQ lines, and their shipments. open ->
-- partially_received -> closed (by receipts, or closed by hand); open or
-- partially_received -> cancelled.

create or replace function odl.odl_issue_po(
    rfq_id text,
    supplier_id text,
    lines jsonb,
    delivery_mode text default 'direct',
    incoterms text default 'DAP'
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    rfq record;
    new_id text := 'PO-' || odl.odl_ulid();
    line record;
    first_currency text;
begin
    select r.status, r.project_id into rfq
    from odl.rfqs as r
    where r.tenant_id = context.tenant_id and r.rfq_id = odl_issue_po.rfq_id;
    if not found then
        perform odl.procurement_missing('RFQ', odl_issue_po.rfq_id);
    end if;
    perform odl.procurement_authorize('po.issue', rfq.project_id);
    perform odl.procurement_require_state('RFQ', odl_issue_po.rfq_id, rfq.status, '{awarded}', 'orders follow an award');
    perform odl.procurement_require_approved_supplier(odl_issue_po.supplier_id);
    perform odl.procurement_check_lines(odl_issue_po.lines, 2000, 'rfq_line_id, qty, tracking_level, over_receipt_pct');
    insert into odl.purchase_orders (
        tenant_id, po_id, project_id, rfq_id, supplier_id, currency, incoterms, delivery_mode, status, issued_by
    )
    values (
        context.tenant_id, new_id, rfq.project_id, odl_issue_po.rfq_id, odl_issue_po.supplier_id, 'XXX',
        odl_issue_po.incoterms, odl_issue_po.delivery_mode, 'open', context.user_id
    );
    -- In rfq_line_id order: the trigger locks each RFQ line as it counts.
    for line in
        select
            l.value ->> 'rfq_line_id' as rfq_line_id,
            (l.value ->> 'qty')::numeric as qty,
            coalesce(l.value ->> 'tracking_level', 'quantity') as tracking_level,
            coalesce((l.value ->> 'over_receipt_pct')::numeric, 0) as over_receipt_pct,
            r.component_ref, r.uom, r.awarded_bid_id, b.supplier_id, b.currency, bl.unit_price
        from jsonb_array_elements(odl_issue_po.lines) as l
        left join odl.rfq_lines as r
            on r.tenant_id = context.tenant_id and r.rfq_id = odl_issue_po.rfq_id
            and r.rfq_line_id = l.value ->> 'rfq_line_id'
        left join odl.bids as b on b.tenant_id = r.tenant_id and b.bid_id = r.awarded_bid_id
        left join odl.bid_lines as bl
            on bl.tenant_id = r.tenant_id and bl.bid_id = r.awarded_bid_id and bl.rfq_line_id = r.rfq_line_id
        order by 1
    loop
        if line.component_ref is null then
            raise exception using
                errcode = '22023',
                message = format('%s is no line of RFQ %s', coalesce(line.rfq_line_id, 'null'), odl_issue_po.rfq_id);
        end if;
        if line.supplier_id is distinct from odl_issue_po.supplier_id then
            raise exception using
                errcode = 'ODQ04',
                message = format(
                    'RFQ line %s is not awarded to supplier %s: nothing may be ordered from it', line.rfq_line_id,
                    odl_issue_po.supplier_id
                ),
                detail = format('awarded_bid_id %s', coalesce(line.awarded_bid_id, 'none'));
        end if;
        first_currency := coalesce(first_currency, line.currency);
        if line.currency <> first_currency then
            raise exception using
                errcode = '22023',
                message = 'the awarded bids of the lines are in different currencies: one order per currency',
                detail = format('%s and %s', first_currency, line.currency);
        end if;
        insert into odl.po_lines (
            tenant_id, po_id, po_line_id, supplier_id, rfq_line_id, bid_id, component_ref, uom, tracking_level, qty,
            unit_price, over_receipt_pct
        )
        values (
            context.tenant_id, new_id, 'POL-' || odl.odl_ulid(), odl_issue_po.supplier_id, line.rfq_line_id,
            line.awarded_bid_id, line.component_ref, line.uom, line.tracking_level, line.qty, line.unit_price,
            line.over_receipt_pct
        );
    end loop;
    update odl.purchase_orders as o set currency = first_currency
    where o.tenant_id = context.tenant_id and o.po_id = new_id;
    perform odl.audit_append(
        'po.issued',
        jsonb_build_object(
            'po_id', new_id, 'rfq_id', odl_issue_po.rfq_id, 'supplier_id', odl_issue_po.supplier_id,
            'lines', (
                select jsonb_agg(jsonb_build_object('rfq_line_id', l.value -> 'rfq_line_id', 'qty', l.value -> 'qty'))
                from jsonb_array_elements(odl_issue_po.lines) as l
            )
        ),
        rfq.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_issue_po(text, text, jsonb, text, text) from public;
grant execute on function odl.odl_issue_po(text, text, jsonb, text, text) to odl_app;
comment on function odl.odl_issue_po(text, text, jsonb, text, text) is
'Issues a purchase order to an approved supplier against the lines of an awarded RFQ awarded to it '
'[{rfq_line_id, qty, tracking_level, over_receipt_pct}], at the awarded prices; returns its id (line ids '
'POL-... in rfq_line_id order). ODQ04 when a line is not awarded to the supplier or the order would exceed '
'its award, ODQ08, ODQ09 unless awarded; W on libraries at the project';

create or replace function odl.odl_set_po_status(po_id text, status text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    po record;
begin
    select o.status, o.project_id into po
    from odl.purchase_orders as o
    where o.tenant_id = context.tenant_id and o.po_id = odl_set_po_status.po_id
    for no key update;
    if not found then
        perform odl.procurement_missing('purchase order', odl_set_po_status.po_id);
    end if;
    perform odl.procurement_authorize_move('po', po.status, odl_set_po_status.status, po.project_id, null, '{po.receive}');
    update odl.purchase_orders as o set status = odl_set_po_status.status
    where o.tenant_id = context.tenant_id and o.po_id = odl_set_po_status.po_id;
    perform odl.procurement_audit_move(
        'po.status_changed', 'po_id', odl_set_po_status.po_id, po.status, odl_set_po_status.status, po.project_id
    );
end
$$;

revoke all on function odl.odl_set_po_status(text, text) from public;
grant execute on function odl.odl_set_po_status(text, text) to odl_app;
comment on function odl.odl_set_po_status(text, text) is
'Closes or cancels a purchase order (W on libraries); a cancelled order gives back to the awards what it did '
'not receive. ODQ01 for any other move';

create or replace function odl.odl_po_lines(po_id text)
returns table (
    po_line_id text,
    rfq_line_id text,
    component_ref text,
    uom text,
    tracking_level text,
    qty numeric,
    over_receipt_pct numeric,
    received_qty numeric,
    returned_qty numeric,
    unit_price numeric,
    price_redacted boolean
)
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    project text;
    visible boolean;
begin
    select o.project_id into project
    from odl.purchase_orders as o
    where o.tenant_id = context.tenant_id and o.po_id = odl_po_lines.po_id;
    if not found then
        perform odl.procurement_missing('purchase order', odl_po_lines.po_id);
    end if;
    if not odl.readable_project(project) then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: reading a purchase order needs R on some section of its project';
    end if;
    visible := odl.prices_visible(project);
    return query
    select
        l.po_line_id, l.rfq_line_id, l.component_ref, l.uom, l.tracking_level, l.qty, l.over_receipt_pct,
        l.received_qty, l.returned_qty, case when visible then l.unit_price end, not visible
    from odl.po_lines as l
    where l.tenant_id = context.tenant_id and l.po_id = odl_po_lines.po_id
    order by l.po_line_id;
end
$$;

revoke all on function odl.odl_po_lines(text) from public;
grant execute on function odl.odl_po_lines(text) to odl_app;
comment on function odl.odl_po_lines(text) is
'The lines of a purchase order with their running totals (R on some section of the project); unit_price is '
'null and price_redacted true unless the reader may read supplier prices (odl.prices_visible)';

create or replace function odl.odl_ship(po_id text, carrier text default null, waybill text default null)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    po record;
    new_id text := 'SHP-' || odl.odl_ulid();
begin
    select o.status, o.project_id into po
    from odl.purchase_orders as o
    where o.tenant_id = context.tenant_id and o.po_id = odl_ship.po_id;
    if not found then
        perform odl.procurement_missing('purchase order', odl_ship.po_id);
    end if;
    perform odl.procurement_authorize('shipment.create', po.project_id);
    perform odl.procurement_require_state(
        'purchase order', odl_ship.po_id, po.status, '{open,partially_received}', 'nothing more ships on it'
    );
    insert into odl.shipments (tenant_id, shipment_id, po_id, status, carrier, waybill, created_by)
    values (context.tenant_id, new_id, odl_ship.po_id, 'planned', odl_ship.carrier, odl_ship.waybill, context.user_id);
    perform odl.audit_append(
        'shipment.created', jsonb_build_object('shipment_id', new_id, 'po_id', odl_ship.po_id), po.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_ship(text, text, text) from public;
grant execute on function odl.odl_ship(text, text, text) to odl_app;
comment on function odl.odl_ship(text, text, text) is
'Plans a shipment of an open purchase order; returns its id (SHP-...). W on libraries at the project';

create or replace function odl.odl_set_shipment_status(shipment_id text, status text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    shipment record;
begin
    select s.status, o.project_id into shipment
    from odl.shipments as s
    inner join odl.purchase_orders as o on s.tenant_id = o.tenant_id and s.po_id = o.po_id
    where s.tenant_id = context.tenant_id and s.shipment_id = odl_set_shipment_status.shipment_id
    for no key update of s;
    if not found then
        perform odl.procurement_missing('shipment', odl_set_shipment_status.shipment_id);
    end if;
    perform odl.procurement_authorize_move(
        'shipment', shipment.status, odl_set_shipment_status.status, shipment.project_id
    );
    update odl.shipments as s set status = odl_set_shipment_status.status
    where s.tenant_id = context.tenant_id and s.shipment_id = odl_set_shipment_status.shipment_id;
    perform odl.procurement_audit_move(
        'shipment.status_changed', 'shipment_id', odl_set_shipment_status.shipment_id, shipment.status,
        odl_set_shipment_status.status, shipment.project_id
    );
end
$$;

revoke all on function odl.odl_set_shipment_status(text, text) from public;
grant execute on function odl.odl_set_shipment_status(text, text) to odl_app;
comment on function odl.odl_set_shipment_status(text, text) is
'Moves a shipment: planned -> in_transit -> delivered, in_transit <-> exception, exception -> delivered or '
'cancelled, planned -> cancelled (ODQ01 otherwise); W on libraries at the project';
