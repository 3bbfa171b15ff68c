-- Receiving and stock. A receipt counts on its PO line and enters stock
-- (in_stock at a location); stock then moves between locations and
-- states: in_stock -> reserved -> installed; in_stock or reserved ->
-- quarantine -> in_stock or scrap.

create or replace function odl.odl_receive(
    po_line_id text,
    qty numeric,
    location text,
    lot text default null,
    serials text[] default null,
    shipment_id text default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    line record;
    new_id text := 'RCV-' || odl.odl_ulid();
    next_status text;
begin
    select l.po_id, l.component_ref, o.project_id into line
    from odl.po_lines as l
    inner join odl.purchase_orders as o on l.tenant_id = o.tenant_id and l.po_id = o.po_id
    where l.tenant_id = context.tenant_id and l.po_line_id = odl_receive.po_line_id;
    if not found then
        perform odl.procurement_missing('PO line', odl_receive.po_line_id);
    end if;
    perform odl.procurement_authorize('po.receive', line.project_id);
    if odl_receive.location is null or btrim(odl_receive.location) = '' then
        raise exception using errcode = '22004', message = 'location must not be null or blank';
    end if;
    -- The order first (lock order), then the line (trigger), stock, serials.
    perform from odl.purchase_orders as o
    where o.tenant_id = context.tenant_id and o.po_id = line.po_id
    for no key update;
    insert into odl.receipts (
        tenant_id, receipt_id, po_id, po_line_id, shipment_id, qty, location, lot, serials, received_by
    )
    values (
        context.tenant_id, new_id, line.po_id, odl_receive.po_line_id, odl_receive.shipment_id, odl_receive.qty,
        odl_receive.location, coalesce(odl_receive.lot, ''), coalesce(odl_receive.serials, '{}'), context.user_id
    );
    insert into odl.stock_moves (
        tenant_id, move_id, project_id, component_ref, lot, qty, from_location, from_status, to_location, to_status,
        serials, receipt_id, moved_by
    )
    values (
        context.tenant_id, 'MOV-' || odl.odl_ulid(), line.project_id, line.component_ref,
        coalesce(odl_receive.lot, ''), odl_receive.qty, null, '', odl_receive.location, 'in_stock',
        coalesce(odl_receive.serials, '{}'), new_id, context.user_id
    );
    select case when bool_and(l.received_qty >= l.qty) then 'closed' else 'partially_received' end into next_status
    from odl.po_lines as l
    where l.tenant_id = context.tenant_id and l.po_id = line.po_id;
    update odl.purchase_orders as o set status = next_status
    where o.tenant_id = context.tenant_id and o.po_id = line.po_id and o.status <> next_status;
    perform odl.audit_append(
        'po.received',
        jsonb_build_object(
            'receipt_id', new_id, 'po_id', line.po_id, 'po_line_id', odl_receive.po_line_id, 'qty', odl_receive.qty,
            'location', odl_receive.location, 'lot', odl_receive.lot, 'serials', odl_receive.serials
        ),
        line.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_receive(text, numeric, text, text, text[], text) from public;
grant execute on function odl.odl_receive(text, numeric, text, text, text[], text) to odl_app;
comment on function odl.odl_receive(text, numeric, text, text, text[], text) is
'Receives goods on a PO line into a location (in_stock), with their lot and serials (one per unit on a '
'serial-tracked line), and moves the order to partially_received or closed; returns the receipt''s id. '
'ODQ05 beyond the line''s tolerance, ODQ07 for a serial already in stock, ODQ09 unless the order is open; '
'W on instances at the project (engineer)';

create or replace function odl.odl_move_stock(
    project_id text,
    component_ref text,
    qty numeric,
    from_location text,
    from_status text,
    to_status text,
    to_location text default null,
    lot text default null,
    serials text[] default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    new_id text := 'MOV-' || odl.odl_ulid();
    destination text;
begin
    perform odl.procurement_authorize('stock.move', odl_move_stock.project_id);
    if not exists (
        select from odl.procurement_transitions as t
        where t.entity = 'stock' and t.from_status = odl_move_stock.from_status
            and t.to_status = odl_move_stock.to_status and t.action = 'stock.move'
    ) then
        perform odl.procurement_action_for('stock', odl_move_stock.from_status, odl_move_stock.to_status, '{po.receive,rma.ship}');
    end if;
    if odl_move_stock.from_location is null then
        raise exception using errcode = '22004', message = 'from_location must not be null';
    end if;
    -- Installed and scrapped goods leave stock; the other states stay at a
    -- location, the same one unless to_location names another.
    destination := case
        when odl_move_stock.to_status in ('installed', 'scrap') then null
        else coalesce(odl_move_stock.to_location, odl_move_stock.from_location)
    end;
    if odl_move_stock.from_status = odl_move_stock.to_status and destination = odl_move_stock.from_location then
        raise exception using
            errcode = '22023',
            message = 'a transfer moves stock to another location',
            detail = format('from and to %s', destination);
    end if;
    insert into odl.stock_moves (
        tenant_id, move_id, project_id, component_ref, lot, qty, from_location, from_status, to_location, to_status,
        serials, moved_by
    )
    values (
        context.tenant_id, new_id, odl_move_stock.project_id, odl_move_stock.component_ref,
        coalesce(odl_move_stock.lot, ''), odl_move_stock.qty, odl_move_stock.from_location,
        odl_move_stock.from_status, destination, odl_move_stock.to_status, coalesce(odl_move_stock.serials, '{}'),
        context.user_id
    );
    perform odl.audit_append(
        'stock.moved',
        jsonb_build_object(
            'move_id', new_id, 'component_ref', odl_move_stock.component_ref, 'qty', odl_move_stock.qty,
            'from', jsonb_build_array(odl_move_stock.from_location, odl_move_stock.from_status),
            'to', jsonb_build_array(destination, odl_move_stock.to_status), 'lot', odl_move_stock.lot,
            'serials', odl_move_stock.serials
        ),
        odl_move_stock.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_move_stock(text, text, numeric, text, text, text, text, text, text[]) from public;
grant execute on function odl.odl_move_stock(text, text, numeric, text, text, text, text, text, text[]) to odl_app;
comment on function odl.odl_move_stock(text, text, numeric, text, text, text, text, text, text[]) is
'Moves a project''s stock of a component (and lot, and serials: required where the stock has serials) from a '
'location and state to another: transfer (in_stock to another location), reserve, install, quarantine, '
'restock, scrap; returns the move''s id. ODQ01 for a move of states the machine does not allow, ODQ06 for more '
'than the location holds, ODQ07 for a serial not there; W on instances at the project';
