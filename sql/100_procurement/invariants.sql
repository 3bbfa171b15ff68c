-- The invariants, kept by the database whoever writes: triggers move the
-- running totals (ordered, received, returned, stock, where a serial is)
-- and refuse, with their own SQLSTATE, a write that would cross a bound;
-- the named CHECK constraints of the tables are the last line.
--
-- Lock order. Every writer takes its locks in this order, so concurrent
-- writers wait for each other but never deadlock: rfqs, suppliers,
-- purchase_orders, rfq_lines (by rfq_line_id), returns, po_lines,
-- stock_balances (by key), serials (by serial_no), and the tenant's audit
-- head last (audit_append() ends every API call). A new order locks RFQ
-- lines only after inserting its own header, which nobody else can see yet.
-- Row locks are FOR NO KEY UPDATE, which foreign key checks (FOR KEY SHARE)
-- never wait for.

create or replace function odl.procurement_check_transition()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    prior text := '';
begin
    if tg_op = 'UPDATE' then
        if new.status = old.status then
            return new;
        end if;
        prior := old.status;
    end if;
    if not exists (
        select from odl.procurement_transitions as t
        where t.entity = tg_argv[0] and t.from_status = prior and t.to_status = new.status
    ) then
        raise exception using
            errcode = 'ODQ01',
            message = format(
                'a %s cannot move from %s to %s', tg_argv[0], coalesce(nullif(prior, ''), '(new)'), new.status
            ),
            detail = format('table %s', tg_table_name);
    end if;
    return new;
end
$$;

revoke all on function odl.procurement_check_transition() from public;
comment on function odl.procurement_check_transition() is
'Trigger: refuses (ODQ01) a status that odl.procurement_transitions does not allow from the old one (or at '
'creation); its argument names the entity';

create or replace trigger suppliers_transition
before insert or update of status on odl.suppliers
for each row execute function odl.procurement_check_transition('supplier');
create or replace trigger rfqs_transition
before insert or update of status on odl.rfqs
for each row execute function odl.procurement_check_transition('rfq');
create or replace trigger bids_transition
before insert or update of status on odl.bids
for each row execute function odl.procurement_check_transition('bid');
create or replace trigger purchase_orders_transition
before insert or update of status on odl.purchase_orders
for each row execute function odl.procurement_check_transition('po');
create or replace trigger shipments_transition
before insert or update of status on odl.shipments
for each row execute function odl.procurement_check_transition('shipment');
create or replace trigger warranty_claims_transition
before insert or update of status on odl.warranty_claims
for each row execute function odl.procurement_check_transition('claim');
create or replace trigger returns_transition
before insert or update of status on odl.returns
for each row execute function odl.procurement_check_transition('rma');

create or replace function odl.rfq_lines_award_once()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if old.awarded_bid_id is not null
        and (new.awarded_bid_id is distinct from old.awarded_bid_id or new.awarded_qty is distinct from old.awarded_qty) then
        raise exception using
            errcode = 'ODQ03',
            message = format('RFQ line %s is awarded already', old.rfq_line_id),
            detail = format('awarded_bid_id %s', old.awarded_bid_id);
    end if;
    return new;
end
$$;

revoke all on function odl.rfq_lines_award_once() from public;
comment on function odl.rfq_lines_award_once() is
'Trigger: an RFQ line''s award, once made, never changes (ODQ03): one awarded bid per line';

create or replace trigger rfq_lines_award_once
before update of awarded_bid_id, awarded_qty on odl.rfq_lines
for each row execute function odl.rfq_lines_award_once();

-- ordered <= awarded. What a PO line orders counts against its RFQ line's
-- award; a cancelled order gives back what it did not receive.
create or replace function odl.rfq_lines_add_ordered(tenant_id text, rfq_line_id text, delta numeric)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    line record;
begin
    select l.awarded_qty, l.ordered_qty into line
    from odl.rfq_lines as l
    where l.tenant_id = rfq_lines_add_ordered.tenant_id and l.rfq_line_id = rfq_lines_add_ordered.rfq_line_id
    for no key update;
    if line.ordered_qty + delta > coalesce(line.awarded_qty, 0) then
        raise exception using
            errcode = 'ODQ04',
            message = format('ordering %s more would exceed the award of RFQ line %s', delta, rfq_line_id),
            detail = format('awarded %s, ordered %s', coalesce(line.awarded_qty, 0), line.ordered_qty);
    end if;
    update odl.rfq_lines as l set ordered_qty = l.ordered_qty + delta
    where l.tenant_id = rfq_lines_add_ordered.tenant_id and l.rfq_line_id = rfq_lines_add_ordered.rfq_line_id;
end
$$;

revoke all on function odl.rfq_lines_add_ordered(text, text, numeric) from public;
comment on function odl.rfq_lines_add_ordered(text, text, numeric) is
'Adds to an RFQ line''s ordered total under its row lock; ODQ04 when that would exceed the award';

create or replace function odl.po_lines_count_ordered()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if tg_op = 'UPDATE' and (new.rfq_line_id, new.qty) is not distinct from (old.rfq_line_id, old.qty) then
        return null;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        perform odl.rfq_lines_add_ordered(old.tenant_id, old.rfq_line_id, -old.qty);
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        perform odl.rfq_lines_add_ordered(new.tenant_id, new.rfq_line_id, new.qty);
    end if;
    return null;
end
$$;

revoke all on function odl.po_lines_count_ordered() from public;
comment on function odl.po_lines_count_ordered() is
'Trigger: counts a PO line''s quantity against its RFQ line''s award (ordered <= awarded, ODQ04)';

create or replace trigger po_lines_count_ordered
after insert or update of rfq_line_id, qty or delete on odl.po_lines
for each row execute function odl.po_lines_count_ordered();

create or replace function odl.purchase_orders_release()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    line record;
begin
    for line in
        select l.rfq_line_id, l.qty - least(l.received_qty, l.qty) as unreceived
        from odl.po_lines as l
        where l.tenant_id = new.tenant_id and l.po_id = new.po_id
        order by l.rfq_line_id
    loop
        perform odl.rfq_lines_add_ordered(new.tenant_id, line.rfq_line_id, -line.unreceived);
    end loop;
    return null;
end
$$;

revoke all on function odl.purchase_orders_release() from public;
comment on function odl.purchase_orders_release() is
'Trigger: a cancelled purchase order gives back to the awards what it did not receive';

create or replace trigger purchase_orders_release
after update of status on odl.purchase_orders
for each row when (new.status = 'cancelled' and old.status <> 'cancelled')
execute function odl.purchase_orders_release();

-- received <= ordered, within the line's tolerance; only while the order
-- is open.
create or replace function odl.receipts_count_received()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    line record;
begin
    select l.qty, l.received_qty, l.over_receipt_pct, l.tracking_level, o.status into line
    from odl.po_lines as l
    inner join odl.purchase_orders as o on l.tenant_id = o.tenant_id and l.po_id = o.po_id
    where l.tenant_id = new.tenant_id and l.po_line_id = new.po_line_id
    for no key update of l;
    perform odl.procurement_require_state(
        'purchase order', new.po_id, line.status, '{open,partially_received}', 'nothing more is received on it'
    );
    if line.tracking_level = 'serial' and cardinality(new.serials) <> new.qty then
        raise exception using
            errcode = '22023',
            message = format('PO line %s is serial-tracked: a receipt names one serial per unit', new.po_line_id),
            detail = format('qty %s, serials %s', new.qty, cardinality(new.serials));
    end if;
    if line.received_qty + new.qty > line.qty * (1 + line.over_receipt_pct / 100) then
        raise exception using
            errcode = 'ODQ05',
            message = format('receiving %s would exceed PO line %s', new.qty, new.po_line_id),
            detail = format(
                'ordered %s, tolerance %s%%, received %s', line.qty, line.over_receipt_pct, line.received_qty
            );
    end if;
    update odl.po_lines as l set received_qty = l.received_qty + new.qty
    where l.tenant_id = new.tenant_id and l.po_line_id = new.po_line_id;
    return null;
end
$$;

revoke all on function odl.receipts_count_received() from public;
comment on function odl.receipts_count_received() is
'Trigger: counts a receipt on its PO line (received <= ordered within the tolerance, ODQ05), only while the '
'order is open (ODQ09); a serial-tracked line needs one serial per unit';

create or replace trigger receipts_count_received
after insert on odl.receipts
for each row execute function odl.receipts_count_received();

create or replace function odl.receipts_refuse_change()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    raise exception using
        errcode = 'ODQ09',
        message = format('%s are a ledger: rows are never updated or deleted', tg_table_name),
        hint = 'Correct with a new row: a move back, or a return.';
end
$$;

revoke all on function odl.receipts_refuse_change() from public;
comment on function odl.receipts_refuse_change() is
'Trigger: receipts and stock moves are ledgers that running totals are counted from; they are never changed';

create or replace trigger receipts_refuse_change
before update or delete on odl.receipts
for each row execute function odl.receipts_refuse_change();
create or replace trigger stock_moves_refuse_change
before update or delete on odl.stock_moves
for each row execute function odl.receipts_refuse_change();

-- returned <= received: a return counts from its request until it is
-- rejected or cancelled before it ships.
create or replace function odl.returns_count_returned()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    delta numeric;
    line record;
begin
    if tg_op = 'INSERT' then
        delta := new.qty;
    elsif new.status in ('rejected', 'cancelled') and old.status in ('requested', 'authorized') then
        delta := -old.qty;
    else
        return null;
    end if;
    select l.received_qty, l.returned_qty into line
    from odl.po_lines as l
    where l.tenant_id = new.tenant_id and l.po_line_id = new.po_line_id
    for no key update;
    if line.returned_qty + delta > line.received_qty then
        raise exception using
            errcode = 'ODQ10',
            message = format('returning %s would exceed what PO line %s received', delta, new.po_line_id),
            detail = format('received %s, returned %s', line.received_qty, line.returned_qty);
    end if;
    update odl.po_lines as l set returned_qty = l.returned_qty + delta
    where l.tenant_id = new.tenant_id and l.po_line_id = new.po_line_id;
    return null;
end
$$;

revoke all on function odl.returns_count_returned() from public;
comment on function odl.returns_count_returned() is
'Trigger: counts a return against its PO line''s receipts (returned <= received, ODQ10) until it is rejected '
'or cancelled before it ships';

create or replace trigger returns_count_returned
after insert or update of status on odl.returns
for each row execute function odl.returns_count_returned();

-- Stock never negative, a serial in one place at a time.
create or replace function odl.stock_moves_apply()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    side record;
    held numeric;
    serial text;
    place record;
    received_on text;
begin
    -- Both balances in key order (only location and status differ).
    for side in
        select s.location, s.status, s.delta
        from (
            values
            (new.from_location, new.from_status, -new.qty),
            (new.to_location, new.to_status, new.qty)
        ) as s (location, status, delta)
        where s.location is not null
        order by s.location, s.status
    loop
        if side.delta < 0 then
            select b.qty into held
            from odl.stock_balances as b
            where b.tenant_id = new.tenant_id and b.project_id = new.project_id and b.location = side.location
                and b.component_ref = new.component_ref and b.lot = new.lot and b.status = side.status
            for no key update;
            if coalesce(held, 0) + side.delta < 0 then
                raise exception using
                    errcode = 'ODQ06',
                    message = format(
                        'stock of %s at %s (%s) would go negative', new.component_ref, side.location, side.status
                    ),
                    detail = format('lot %L holds %s, the move takes %s', new.lot, coalesce(held, 0), -side.delta);
            end if;
            update odl.stock_balances as b set qty = b.qty + side.delta
            where b.tenant_id = new.tenant_id and b.project_id = new.project_id and b.location = side.location
                and b.component_ref = new.component_ref and b.lot = new.lot and b.status = side.status;
        else
            insert into odl.stock_balances as b (tenant_id, project_id, location, component_ref, lot, status, qty)
            values (new.tenant_id, new.project_id, side.location, new.component_ref, new.lot, side.status, side.delta)
            on conflict (tenant_id, project_id, location, component_ref, lot, status)
            do update set qty = b.qty + excluded.qty;
        end if;
    end loop;

    if cardinality(new.serials) = 0 then
        if new.from_location is not null and exists (
            select from odl.serials as s
            where s.tenant_id = new.tenant_id and s.component_ref = new.component_ref
                and s.project_id = new.project_id and s.location = new.from_location and s.status = new.from_status
                and s.lot = new.lot
        ) then
            raise exception using
                errcode = '22023',
                message = format('%s at %s is serial-tracked: name the serials to move', new.component_ref, new.from_location);
        end if;
        return null;
    end if;
    if (select count(distinct s.x) from unnest(new.serials) as s (x)) <> cardinality(new.serials) then
        raise exception using
            errcode = '22023',
            message = 'a move names each serial once';
    end if;
    select r.po_line_id into received_on
    from odl.receipts as r
    where r.tenant_id = new.tenant_id and r.receipt_id = new.receipt_id;
    for serial in select s.x from unnest(new.serials) as s (x) order by s.x loop
        if new.from_location is null then
            -- Entering stock: new, or back after it was returned.
            insert into odl.serials as s (
                tenant_id, component_ref, serial_no, project_id, location, lot, status, po_line_id
            )
            values (
                new.tenant_id, new.component_ref, serial, new.project_id, new.to_location, new.lot, new.to_status,
                received_on
            )
            on conflict (tenant_id, component_ref, serial_no) do update
            set project_id = excluded.project_id, location = excluded.location, lot = excluded.lot,
                status = excluded.status, po_line_id = excluded.po_line_id, updated_at = now()
            where s.status = 'returned';
        else
            update odl.serials as s
            set location = coalesce(new.to_location, new.from_location), status = new.to_status, updated_at = now()
            where s.tenant_id = new.tenant_id and s.component_ref = new.component_ref and s.serial_no = serial
                and s.project_id = new.project_id and s.location = new.from_location and s.status = new.from_status
                and s.lot = new.lot;
        end if;
        if not found then
            select s.location, s.status into place
            from odl.serials as s
            where s.tenant_id = new.tenant_id and s.component_ref = new.component_ref and s.serial_no = serial;
            raise exception using
                errcode = 'ODQ07',
                message = format(
                    'serial %s of %s is not at %s (%s)', serial, new.component_ref,
                    coalesce(new.from_location, 'a supplier'), coalesce(nullif(new.from_status, ''), 'outside stock')
                ),
                detail = format(
                    'it is %s', coalesce(place.status || ' at ' || place.location, 'unknown')
                );
        end if;
    end loop;
    return null;
end
$$;

revoke all on function odl.stock_moves_apply() from public;
comment on function odl.stock_moves_apply() is
'Trigger: applies a stock move to the balances in key order (never negative, ODQ06) and to its serials, each '
'of which must be where the move takes it from (ODQ07); stock that has serials moves only by serial';

create or replace trigger stock_moves_apply
after insert on odl.stock_moves
for each row execute function odl.stock_moves_apply();
