-- The traceability questions through the API, under the caller's rights:
-- the analysts' views answer them (one source), and these functions add
-- the refusals an application needs (an unknown serial, a project the user
-- may not read) and the EPCIS side of a serial (its events, by its SGTIN).

create or replace function odl.odl_trace_where(
    component_ref text,
    serial_no text,
    out project_id text,
    out status text,
    out location text,
    out lot text,
    out supplier_id text,
    out po_id text,
    out since timestamptz,
    out epc text,
    out event_biz_location text,
    out event_biz_step text,
    out event_time timestamptz,
    out event_id text
)
returns record
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    gtin text;
    last_event record;
begin
    select s.project_id, s.status, s.location, s.lot, s.supplier_id, s.po_id, s.updated_at
    into project_id, status, location, lot, supplier_id, po_id, since
    from odl.analyst_serials as s
    where s.component_ref = odl_trace_where.component_ref and s.serial_no = odl_trace_where.serial_no;
    if not found then
        raise exception using
            errcode = 'ODF01',
            message = format('serial %s of %s is not known', odl_trace_where.serial_no, odl_trace_where.component_ref),
            detail = format('component_ref %s, serial_no %s', odl_trace_where.component_ref, odl_trace_where.serial_no);
    end if;
    gtin := odl.trace_component_gtin(project_id, odl_trace_where.component_ref);
    if gtin is not null then
        epc := 'https://id.gs1.org/01/' || gtin || '/21/' || odl_trace_where.serial_no;
        select w.biz_location, w.biz_step, w.since, w.event_id into last_event from odl.odl_epcis_where(epc) as w;
        event_biz_location := last_event.biz_location;
        event_biz_step := last_event.biz_step;
        event_time := last_event.since;
        event_id := last_event.event_id;
    end if;
end
$$;

revoke all on function odl.odl_trace_where(text, text) from public;
grant execute on function odl.odl_trace_where(text, text) to odl_app, odl_analyst;
comment on function odl.odl_trace_where(text, text) is
'Where a serial of a component is now: its project, state, location and lot, the supplier and order it came '
'from, since when; and by its SGTIN (the component''s GTIN and the serial) the location, step and time of its '
'last EPCIS event (odl_epcis_where). ODF01 unless the user may read instances where it is';

create or replace function odl.odl_trace_history(component_ref text, serial_no text)
returns table (
    at timestamptz,
    source text,
    step text,
    location text,
    record_id text,
    event_id text,
    detail jsonb
)
language plpgsql
stable
rows 20
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    context record := odl.require_context();
    serial record;
    epc text;
begin
    select s.project_id, s.po_line_id, s.supplier_id, s.po_id into serial
    from odl.analyst_serials as s
    where s.component_ref = odl_trace_history.component_ref and s.serial_no = odl_trace_history.serial_no;
    if not found then
        raise exception using
            errcode = 'ODF01',
            message = format(
                'serial %s of %s is not known', odl_trace_history.serial_no, odl_trace_history.component_ref
            ),
            detail = format(
                'component_ref %s, serial_no %s', odl_trace_history.component_ref, odl_trace_history.serial_no
            );
    end if;
    epc := 'https://id.gs1.org/01/' || odl.trace_component_gtin(serial.project_id, odl_trace_history.component_ref)
        || '/21/' || odl_trace_history.serial_no;
    return query
    -- The stock ledger: the receipt (from a supplier's order) and each move,
    -- with the EPCIS event that records it.
    select
        m.moved_at, 'stock', coalesce(nullif(m.from_status, ''), 'received') || ' -> ' || m.to_status,
        coalesce(m.to_location, m.from_location), m.move_id,
        coalesce(lr.event_id, lm.event_id),
        jsonb_strip_nulls(jsonb_build_object(
            'project_id', m.project_id, 'lot', nullif(m.lot, ''), 'receipt_id', m.receipt_id, 'rma_id', m.rma_id,
            'po_id', r.po_id, 'po_line_id', r.po_line_id, 'shipment_id', r.shipment_id,
            'supplier_id', case when m.receipt_id is not null then serial.supplier_id end
        ))
    from odl.stock_move_serials as x
    inner join odl.stock_moves as m on m.tenant_id = x.tenant_id and m.move_id = x.move_id
    left join odl.receipts as r on r.tenant_id = m.tenant_id and r.receipt_id = m.receipt_id
    left join odl.trace_links as lr
        on lr.tenant_id = m.tenant_id and lr.kind = 'receipt' and lr.record_id = m.receipt_id
    left join odl.trace_links as lm
        on lm.tenant_id = m.tenant_id and lm.kind = 'stock_move' and lm.record_id = m.move_id
    where
        x.component_ref = odl_trace_history.component_ref and x.serial_no = odl_trace_history.serial_no
        and m.project_id in (select p.project_id from odl.trace_readable_projects('instances') as p)
    union all
    -- The events that name its SGTIN, or its pallet's while it was packed.
    select
        t.event_time, 'epcis', t.biz_step, t.biz_location, null, t.event_id,
        jsonb_strip_nulls(jsonb_build_object(
            'event_type', t.event_type, 'action', t.action, 'disposition', t.disposition, 'read_point', t.read_point,
            'via', t.via, 'declared', case when t.declared then true end
        ))
    from (select epc as sgtin where epc is not null) as e
    cross join lateral odl.odl_epcis_trace(e.sgtin) as t
    union all
    select
        c.opened_at, 'warranty_claim', c.status, null, c.claim_id, null,
        jsonb_build_object('supplier_id', c.supplier_id, 'project_id', c.project_id)
    from odl.warranty_claims as c
    where
        c.component_ref = odl_trace_history.component_ref and c.serial_no = odl_trace_history.serial_no
        and c.project_id in (select p.project_id from odl.trace_readable_projects('instances') as p)
    order by 1, 2, 5;
end
$$;

revoke all on function odl.odl_trace_history(text, text) from public;
grant execute on function odl.odl_trace_history(text, text) to odl_app, odl_analyst;
comment on function odl.odl_trace_history(text, text) is
'How a serial got where it is, in time order: its stock ledger (receipt from its supplier''s order and shipment, '
'each move) with the EPCIS event that records each step, the EPCIS events that name its SGTIN (and its pallet''s '
'while packed), and its warranty claims; only what the user may read (instances). ODF01 for an unknown serial';

create or replace function odl.odl_trace_lot_installed(project_id text, supplier_id text, lot text)
returns table (
    component_ref text,
    serial_no text,
    location text,
    po_id text,
    po_line_id text,
    installed_at timestamptz
)
language plpgsql
stable
rows 100
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
begin
    perform odl.require_right(odl_trace_lot_installed.project_id, 'instances', 'R', 'tracing serials');
    return query
    select s.component_ref, s.serial_no, s.location, s.po_id, s.po_line_id, s.updated_at
    from odl.analyst_serials as s
    where
        s.project_id = odl_trace_lot_installed.project_id and s.lot = odl_trace_lot_installed.lot
        and s.status = 'installed' and s.supplier_id = odl_trace_lot_installed.supplier_id
    order by s.component_ref, s.serial_no;
end
$$;

revoke all on function odl.odl_trace_lot_installed(text, text, text) from public;
grant execute on function odl.odl_trace_lot_installed(text, text, text) to odl_app, odl_analyst;
comment on function odl.odl_trace_lot_installed(text, text, text) is
'Every serial of a lot from a supplier installed in a project, with the order it came on and where and when it '
'was installed. ODR01 without R on instances at the project, ODH02 for an unknown project';

create or replace function odl.odl_trace_received_not_installed(for_project text default null)
returns table (
    project_id text,
    component_ref text,
    lot text,
    location text,
    status text,
    serial_no text,
    qty numeric,
    supplier_id text,
    po_id text,
    since timestamptz
)
language plpgsql
stable
rows 100
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
begin
    perform odl.require_context();
    if odl_trace_received_not_installed.for_project is not null then
        perform odl.require_right(odl_trace_received_not_installed.for_project, 'instances', 'R', 'tracing stock');
    end if;
    return query
    select
        v.project_id::text, v.component_ref, v.lot, v.location, v.status, v.serial_no, v.qty, v.supplier_id, v.po_id,
        v.since
    from odl.analyst_received_not_installed as v
    where
        odl_trace_received_not_installed.for_project is null
        or v.project_id = odl_trace_received_not_installed.for_project
    order by v.project_id, v.component_ref, v.lot, v.location, v.status, v.serial_no;
end
$$;

revoke all on function odl.odl_trace_received_not_installed(text) from public;
grant execute on function odl.odl_trace_received_not_installed(text) to odl_app;
comment on function odl.odl_trace_received_not_installed(text) is
'What was received and is not installed (odl.analyst_received_not_installed), of one project or of every project '
'the user may read instances of. ODR01 without R on instances at the project given';

create or replace function odl.odl_trace_approved_not_ordered(for_project text default null)
returns table (
    project_id text,
    component_id text,
    brand text,
    part_number text,
    rating_w numeric,
    status text
)
language plpgsql
stable
rows 100
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
begin
    perform odl.require_context();
    if odl_trace_approved_not_ordered.for_project is not null then
        perform odl.require_right(odl_trace_approved_not_ordered.for_project, 'libraries', 'R', 'listing components');
    end if;
    return query
    select v.project_id::text, v.component_id, v.brand, v.part_number, v.rating_w, v.status
    from odl.analyst_approved_not_ordered as v
    where
        odl_trace_approved_not_ordered.for_project is null
        or v.project_id = odl_trace_approved_not_ordered.for_project
    order by v.project_id, v.brand, v.part_number;
end
$$;

revoke all on function odl.odl_trace_approved_not_ordered(text) from public;
grant execute on function odl.odl_trace_approved_not_ordered(text) to odl_app;
comment on function odl.odl_trace_approved_not_ordered(text) is
'Components approved but never ordered (odl.analyst_approved_not_ordered), of one project or of every project '
'the user may read libraries of. ODR01 without R on libraries at the project given';

create or replace function odl.odl_trace_open_claims(for_supplier text default null)
returns table (
    supplier_id text,
    supplier_name text,
    project_id text,
    open_claims bigint,
    in_review_claims bigint,
    oldest_opened_at timestamptz
)
language plpgsql
stable
rows 20
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
begin
    perform odl.require_context();
    return query
    select v.supplier_id, v.supplier_name, v.project_id::text, v.open_claims, v.in_review_claims, v.oldest_opened_at
    from odl.analyst_open_warranty_claims as v
    where odl_trace_open_claims.for_supplier is null or v.supplier_id = odl_trace_open_claims.for_supplier
    order by v.supplier_id, v.project_id;
end
$$;

revoke all on function odl.odl_trace_open_claims(text) from public;
grant execute on function odl.odl_trace_open_claims(text) to odl_app;
comment on function odl.odl_trace_open_claims(text) is
'Open warranty claims (open or in review) by supplier and project (odl.analyst_open_warranty_claims), of one '
'supplier or all, in the projects the user may read';
