-- A procurement step and the EPCIS event that records it, in one
-- transaction: the step through its own odl_ function (which authorizes,
-- moves the state and audits), the event through odl_capture_epcis()
-- (validated, hashed, audited), and the link between them. Either both
-- happen or neither. Recording the event needs W on instances at the
-- project, as any capture does.

create or replace function odl.odl_trace_ship(
    shipment_id text,
    status text,
    event_time timestamptz default null,
    biz_location text default null,
    read_point text default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    shipment record;
    step record;
    classes jsonb;
    ids text[];
begin
    select s.po_id, o.project_id into shipment
    from odl.shipments as s
    inner join odl.purchase_orders as o on s.tenant_id = o.tenant_id and s.po_id = o.po_id
    where s.tenant_id = context.tenant_id and s.shipment_id = odl_trace_ship.shipment_id;
    if not found then
        perform odl.procurement_missing('shipment', odl_trace_ship.shipment_id);
    end if;
    -- Leaving the supplier is ODL-SD shipped (CBV shipping); reaching the
    -- site or depot is CBV arriving, before the goods receipt.
    select x.biz_step, x.disposition into step
    from (
        select s.biz_step, s.disposition from odl.epcis_status_steps as s
        where s.status = 'shipped' and odl_trace_ship.status = 'in_transit'
        union all
        select 'arriving', 'in_progress' where odl_trace_ship.status = 'delivered'
    ) as x;
    if not found then
        raise exception using
            errcode = 'ODF03',
            message = format('no EPCIS event records a shipment moving to %s', quote_nullable(odl_trace_ship.status)),
            detail = format('shipment_id %s', odl_trace_ship.shipment_id),
            hint = 'Trace in_transit (shipping) and delivered (arriving); move the others with odl_set_shipment_status';
    end if;
    perform odl.odl_set_shipment_status(odl_trace_ship.shipment_id, odl_trace_ship.status);

    -- What the order still awaits, by GTIN class (lines whose component has none cannot be named).
    select jsonb_agg(
        jsonb_strip_nulls(jsonb_build_object(
            'epcClass', 'https://id.gs1.org/01/' || q.gtin,
            'quantity', q.qty,
            'uom', case q.uom when 'm' then 'MTR' when 'kg' then 'KGM' end
        ))
        order by q.gtin
    )
    into classes
    from (
        select g.gtin, l.uom, sum(l.qty - l.received_qty) as qty
        from odl.po_lines as l
        cross join lateral (select odl.trace_component_gtin(shipment.project_id, l.component_ref) as gtin) as g
        where l.tenant_id = context.tenant_id and l.po_id = shipment.po_id and g.gtin is not null
        group by g.gtin, l.uom
        having sum(l.qty - l.received_qty) > 0
    ) as q;
    if classes is null then
        raise exception using
            errcode = 'ODF02',
            message = format(
                'no line of order %s awaits a component with a GTIN: EPCIS events cannot name it', shipment.po_id
            ),
            detail = format('shipment_id %s', odl_trace_ship.shipment_id);
    end if;
    ids := odl.odl_capture_epcis(
        shipment.project_id,
        odl.trace_event(
            odl_trace_ship.event_time, step.biz_step, step.disposition, jsonb_build_object('quantityList', classes),
            jsonb_build_array(
                jsonb_build_object('type', 'po', 'bizTransaction', 'urn:odl:po:' || shipment.po_id),
                jsonb_build_object(
                    'type', 'desadv', 'bizTransaction', 'urn:odl:shipment:' || odl_trace_ship.shipment_id
                )
            ),
            odl_trace_ship.biz_location, odl_trace_ship.read_point
        )
    );
    perform odl.trace_link(ids[1], 'shipment', odl_trace_ship.shipment_id, shipment.project_id);
    return ids[1];
end
$$;

revoke all on function odl.odl_trace_ship(text, text, timestamptz, text, text) from public;
grant execute on function odl.odl_trace_ship(text, text, timestamptz, text, text) to odl_app;
comment on function odl.odl_trace_ship(text, text, timestamptz, text, text) is
'Moves a shipment to in_transit or delivered (odl_set_shipment_status) and captures the EPCIS event that records '
'it: an ObjectEvent, bizStep shipping (in_transit) or arriving (delivered), of the quantities its order still '
'awaits by GTIN class, with the order (urn:odl:po:<po_id>) and the shipment (urn:odl:shipment:<id>) as business '
'transactions; links event and shipment. Returns the event id. ODF03 for another state, ODF02 when no awaited '
'line has a GTIN; the rights of shipment.update and W on instances';

create or replace function odl.odl_trace_receive(
    po_line_id text,
    qty numeric,
    location text,
    lot text default null,
    serials text[] default null,
    shipment_id text default null,
    event_time timestamptz default null,
    biz_location text default null,
    out receipt_id text,
    out event_id text
)
returns record
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    line record;
    gtin text;
    objects jsonb;
    step record;
    ids text[];
begin
    select l.po_id, l.component_ref, l.uom, o.project_id into line
    from odl.po_lines as l
    inner join odl.purchase_orders as o on l.tenant_id = o.tenant_id and l.po_id = o.po_id
    where l.tenant_id = context.tenant_id and l.po_line_id = odl_trace_receive.po_line_id;
    if not found then
        perform odl.procurement_missing('PO line', odl_trace_receive.po_line_id);
    end if;
    receipt_id := odl.odl_receive(
        odl_trace_receive.po_line_id, odl_trace_receive.qty, odl_trace_receive.location, odl_trace_receive.lot,
        odl_trace_receive.serials, odl_trace_receive.shipment_id
    );
    gtin := odl.trace_require_gtin(line.project_id, line.component_ref);
    objects := case
        when cardinality(odl_trace_receive.serials) > 0 then jsonb_build_object(
            'epcList',
            (
                select jsonb_agg('https://id.gs1.org/01/' || gtin || '/21/' || s.serial order by s.n)
                from unnest(odl_trace_receive.serials) with ordinality as s (serial, n)
            )
        )
        else jsonb_build_object('quantityList', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
            'epcClass', 'https://id.gs1.org/01/' || gtin || coalesce('/10/' || nullif(odl_trace_receive.lot, ''), ''),
            'quantity', odl_trace_receive.qty,
            'uom', case line.uom when 'm' then 'MTR' when 'kg' then 'KGM' end
        ))))
    end;
    select s.biz_step, s.disposition into step from odl.epcis_status_steps as s where s.status = 'received';
    ids := odl.odl_capture_epcis(
        line.project_id,
        odl.trace_event(
            odl_trace_receive.event_time, step.biz_step, step.disposition, objects,
            jsonb_build_array(jsonb_build_object('type', 'po', 'bizTransaction', 'urn:odl:po:' || line.po_id))
            || case
                when odl_trace_receive.shipment_id is null then '[]'::jsonb
                else jsonb_build_array(jsonb_build_object(
                    'type', 'desadv', 'bizTransaction', 'urn:odl:shipment:' || odl_trace_receive.shipment_id
                ))
            end,
            coalesce(odl_trace_receive.biz_location, odl.trace_location_uri(odl_trace_receive.location)), null
        )
    );
    event_id := ids[1];
    perform odl.trace_link(event_id, 'receipt', receipt_id, line.project_id);
    if odl_trace_receive.shipment_id is not null then
        perform odl.trace_link(event_id, 'shipment', odl_trace_receive.shipment_id, line.project_id);
    end if;
end
$$;

revoke all on function odl.odl_trace_receive(text, numeric, text, text, text[], text, timestamptz, text) from public;
grant execute on function odl.odl_trace_receive(text, numeric, text, text, text[], text, timestamptz, text) to odl_app;
comment on function odl.odl_trace_receive(text, numeric, text, text, text[], text, timestamptz, text) is
'Receives goods (odl_receive) and captures the EPCIS receiving event that records it: the serials as SGTINs '
'(GTIN + serial), else the quantity of the GTIN class (with the lot: LGTIN), the order and shipment as business '
'transactions, the location as bizLocation when it is a GLN (or biz_location); links the event to the receipt '
'and the shipment. Returns the receipt and event ids. ODF02 when the component has no GTIN; as odl_receive';

create or replace function odl.odl_trace_install(
    project_id text,
    component_ref text,
    serials text[],
    from_location text,
    from_status text default 'reserved',
    event_time timestamptz default null,
    biz_location text default null
)
returns table (move_id text, event_id text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    context record := odl.require_context();
    gtin text;
    step record;
    ids text[];
    moves text[] := '{}';
    lot_group record;
begin
    if odl_trace_install.serials is null or cardinality(odl_trace_install.serials) = 0 then
        raise exception using errcode = '22004', message = 'serials must name at least one serial';
    end if;
    gtin := odl.trace_require_gtin(odl_trace_install.project_id, odl_trace_install.component_ref);
    -- One stock move per lot the serials are in (a move takes one lot); a
    -- serial not in stock falls in lot '' and the move refuses it (ODQ07).
    for lot_group in
        select coalesce(s.lot, '') as lot, array_agg(u.serial order by u.serial) as serials
        from unnest(odl_trace_install.serials) as u (serial)
        left join odl.serials as s
            on
                s.tenant_id = context.tenant_id and s.component_ref = odl_trace_install.component_ref
                and s.serial_no = u.serial
        group by coalesce(s.lot, '')
        order by 1
    loop
        moves := moves || odl.odl_move_stock(
            odl_trace_install.project_id, odl_trace_install.component_ref, cardinality(lot_group.serials),
            odl_trace_install.from_location, odl_trace_install.from_status, 'installed', null, lot_group.lot,
            lot_group.serials
        );
    end loop;
    select s.biz_step, s.disposition into step from odl.epcis_status_steps as s where s.status = 'installed';
    ids := odl.odl_capture_epcis(
        odl_trace_install.project_id,
        odl.trace_event(
            odl_trace_install.event_time, step.biz_step, step.disposition,
            jsonb_build_object(
                'epcList',
                (
                    select jsonb_agg('https://id.gs1.org/01/' || gtin || '/21/' || s.serial order by s.n)
                    from unnest(odl_trace_install.serials) with ordinality as s (serial, n)
                )
            ),
            '[]', odl_trace_install.biz_location, null
        )
    );
    for i in 1 .. cardinality(moves) loop
        perform odl.trace_link(ids[1], 'stock_move', moves[i], odl_trace_install.project_id);
        move_id := moves[i];
        event_id := ids[1];
        return next;
    end loop;
end
$$;

revoke all on function odl.odl_trace_install(text, text, text[], text, text, timestamptz, text) from public;
grant execute on function odl.odl_trace_install(text, text, text[], text, text, timestamptz, text) to odl_app;
comment on function odl.odl_trace_install(text, text, text[], text, text, timestamptz, text) is
'Installs serials of a component in a project: moves them from a location (reserved by default) to installed '
'(odl_move_stock, one move per lot) and captures the EPCIS installing event naming them as SGTINs; links the '
'event to each move. One row per move with the event id. ODF02 when the component has no GTIN; as '
'odl_move_stock (ODQ07 for a serial not there)';
