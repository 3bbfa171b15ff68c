-- Warranty claims (open -> in_review -> resolved or rejected: opened by a
-- technician_operator, decided by a compliance_officer) and returns to the
-- supplier (requested -> authorized | rejected | cancelled; authorized ->
-- in_transit | cancelled; in_transit -> received -> credited | rejected:
-- requested by a supplier_manager, authorized by another user with A on
-- libraries).

create or replace function odl.odl_open_warranty_claim(
    project_id text,
    supplier_id text,
    component_ref text,
    description text,
    serial_no text default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    new_id text := 'CLAIM-' || odl.odl_ulid();
begin
    perform odl.procurement_authorize('claim.open', odl_open_warranty_claim.project_id);
    if not exists (
        select from odl.suppliers as s
        where s.tenant_id = context.tenant_id and s.supplier_id = odl_open_warranty_claim.supplier_id
    ) then
        perform odl.procurement_missing('supplier', odl_open_warranty_claim.supplier_id);
    end if;
    insert into odl.warranty_claims (
        tenant_id, claim_id, project_id, supplier_id, component_ref, serial_no, description, status, opened_by
    )
    values (
        context.tenant_id, new_id, odl_open_warranty_claim.project_id, odl_open_warranty_claim.supplier_id,
        odl_open_warranty_claim.component_ref, odl_open_warranty_claim.serial_no,
        odl_open_warranty_claim.description, 'open', context.user_id
    );
    perform odl.audit_append(
        'claim.opened',
        jsonb_build_object(
            'claim_id', new_id, 'supplier_id', odl_open_warranty_claim.supplier_id,
            'component_ref', odl_open_warranty_claim.component_ref, 'serial_no', odl_open_warranty_claim.serial_no
        ),
        odl_open_warranty_claim.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_open_warranty_claim(text, text, text, text, text) from public;
grant execute on function odl.odl_open_warranty_claim(text, text, text, text, text) to odl_app;
comment on function odl.odl_open_warranty_claim(text, text, text, text, text) is
'Opens a warranty claim against a supplier for a component (and serial) of a project; returns its id '
'(CLAIM-...). W on operations at the project (technician_operator)';

create or replace function odl.odl_set_claim_status(claim_id text, status text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    claim record;
begin
    select c.status, c.project_id into claim
    from odl.warranty_claims as c
    where c.tenant_id = context.tenant_id and c.claim_id = odl_set_claim_status.claim_id
    for no key update;
    if not found then
        perform odl.procurement_missing('warranty claim', odl_set_claim_status.claim_id);
    end if;
    perform odl.procurement_authorize_move('claim', claim.status, odl_set_claim_status.status, claim.project_id);
    update odl.warranty_claims as c
    set
        status = odl_set_claim_status.status,
        closed_at = case when odl_set_claim_status.status in ('resolved', 'rejected') then now() end
    where c.tenant_id = context.tenant_id and c.claim_id = odl_set_claim_status.claim_id;
    perform odl.procurement_audit_move(
        'claim.status_changed', 'claim_id', odl_set_claim_status.claim_id, claim.status, odl_set_claim_status.status,
        claim.project_id
    );
end
$$;

revoke all on function odl.odl_set_claim_status(text, text) from public;
grant execute on function odl.odl_set_claim_status(text, text) to odl_app;
comment on function odl.odl_set_claim_status(text, text) is
'Moves a warranty claim: in_review (W on operations), resolved or rejected (A on compliance: '
'compliance_officer); ODQ01 for any other move';

create or replace function odl.odl_open_return(
    po_line_id text,
    qty numeric,
    reason_code text,
    location text,
    from_status text default 'in_stock',
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
    line record;
    new_id text := 'RMA-' || odl.odl_ulid();
begin
    select l.po_id, o.project_id into line
    from odl.po_lines as l
    inner join odl.purchase_orders as o on l.tenant_id = o.tenant_id and l.po_id = o.po_id
    where l.tenant_id = context.tenant_id and l.po_line_id = odl_open_return.po_line_id;
    if not found then
        perform odl.procurement_missing('PO line', odl_open_return.po_line_id);
    end if;
    perform odl.procurement_authorize('rma.request', line.project_id);
    insert into odl.returns (
        tenant_id, rma_id, project_id, po_id, po_line_id, qty, reason_code, location, from_status, lot, serials,
        status, requested_by
    )
    values (
        context.tenant_id, new_id, line.project_id, line.po_id, odl_open_return.po_line_id, odl_open_return.qty,
        odl_open_return.reason_code, odl_open_return.location, odl_open_return.from_status,
        coalesce(odl_open_return.lot, ''), coalesce(odl_open_return.serials, '{}'), 'requested', context.user_id
    );
    perform odl.audit_append(
        'rma.requested',
        jsonb_build_object(
            'rma_id', new_id, 'po_line_id', odl_open_return.po_line_id, 'qty', odl_open_return.qty,
            'reason_code', odl_open_return.reason_code
        ),
        line.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_open_return(text, numeric, text, text, text, text, text[]) from public;
grant execute on function odl.odl_open_return(text, numeric, text, text, text, text, text[]) to odl_app;
comment on function odl.odl_open_return(text, numeric, text, text, text, text, text[]) is
'Requests a return (RMA) of part of a PO line from a location (in_stock or quarantine, lot, serials); returns '
'its id (RMA-...). ODQ10 when the line''s returns would exceed what it received; W on libraries at the project';

create or replace function odl.odl_set_return_status(rma_id text, status text, credit_note_ref text default null)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    rma record;
begin
    select r.* into rma
    from odl.returns as r
    where r.tenant_id = context.tenant_id and r.rma_id = odl_set_return_status.rma_id
    for no key update;
    if not found then
        perform odl.procurement_missing('return', odl_set_return_status.rma_id);
    end if;
    perform odl.procurement_authorize_move(
        'rma', rma.status, odl_set_return_status.status, rma.project_id, rma.requested_by
    );
    update odl.returns as r
    set
        status = odl_set_return_status.status,
        credit_note_ref = coalesce(odl_set_return_status.credit_note_ref, r.credit_note_ref)
    where r.tenant_id = context.tenant_id and r.rma_id = odl_set_return_status.rma_id;
    if odl_set_return_status.status = 'in_transit' then
        -- The goods leave stock as they ship.
        insert into odl.stock_moves (
            tenant_id, move_id, project_id, component_ref, lot, qty, from_location, from_status, to_location,
            to_status, serials, rma_id, moved_by
        )
        select
            context.tenant_id, 'MOV-' || odl.odl_ulid(), rma.project_id, l.component_ref, rma.lot, rma.qty,
            rma.location, rma.from_status, null, 'returned', rma.serials, rma.rma_id, context.user_id
        from odl.po_lines as l
        where l.tenant_id = context.tenant_id and l.po_line_id = rma.po_line_id;
    end if;
    perform odl.procurement_audit_move(
        'rma.status_changed', 'rma_id', odl_set_return_status.rma_id, rma.status, odl_set_return_status.status,
        rma.project_id, jsonb_build_object('credit_note_ref', odl_set_return_status.credit_note_ref)
    );
end
$$;

revoke all on function odl.odl_set_return_status(text, text, text) from public;
grant execute on function odl.odl_set_return_status(text, text, text) to odl_app;
comment on function odl.odl_set_return_status(text, text, text) is
'Moves a return: authorized or rejected (A on libraries, not by its requester: ODQ11), in_transit (the goods '
'leave stock: ODQ06, ODQ07), received, credited (with the credit note''s reference) or rejected, cancelled; '
'ODQ01 for any other move';
