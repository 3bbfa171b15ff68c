-- RFQs, bids and the award. draft -> issued -> bidding -> evaluating ->
-- awarded; evaluating -> bidding starts the next round; open states ->
-- cancelled. An award gives each RFQ line to at most one bid, once.

create or replace function odl.odl_create_rfq(
    project_id text,
    title text,
    lines jsonb,
    deadline timestamptz default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    new_id text := 'RFQ-' || odl.odl_ulid();
    line jsonb;
begin
    perform odl.procurement_authorize('rfq.create', odl_create_rfq.project_id);
    perform odl.procurement_check_lines(odl_create_rfq.lines, 1000, 'component_ref, qty, uom, spec_summary');
    insert into odl.rfqs (tenant_id, rfq_id, project_id, title, status, deadline, created_by)
    values (
        context.tenant_id, new_id, odl_create_rfq.project_id, odl_create_rfq.title, 'draft',
        odl_create_rfq.deadline, context.user_id
    );
    for line in select l.value from jsonb_array_elements(odl_create_rfq.lines) as l loop
        insert into odl.rfq_lines (tenant_id, rfq_id, rfq_line_id, component_ref, spec_summary, qty, uom)
        values (
            context.tenant_id, new_id, 'RFL-' || odl.odl_ulid(), line ->> 'component_ref', line ->> 'spec_summary',
            (line ->> 'qty')::numeric, coalesce(line ->> 'uom', 'pcs')
        );
    end loop;
    perform odl.audit_append(
        'rfq.created',
        jsonb_build_object('rfq_id', new_id, 'lines', jsonb_array_length(odl_create_rfq.lines)),
        odl_create_rfq.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_create_rfq(text, text, jsonb, timestamptz) from public;
grant execute on function odl.odl_create_rfq(text, text, jsonb, timestamptz) to odl_app;
comment on function odl.odl_create_rfq(text, text, jsonb, timestamptz) is
'Drafts an RFQ of a project with its lines [{component_ref, qty, uom, spec_summary}] (line ids RFL-... in the '
'order given); returns its id. Needs W on libraries at the project';

create or replace function odl.odl_set_rfq_status(rfq_id text, status text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    rfq record;
begin
    select r.status, r.project_id, r.round into rfq
    from odl.rfqs as r
    where r.tenant_id = context.tenant_id and r.rfq_id = odl_set_rfq_status.rfq_id
    for no key update;
    if not found then
        perform odl.procurement_missing('RFQ', odl_set_rfq_status.rfq_id);
    end if;
    -- An award names its lines and bids: odl_award_rfq().
    perform odl.procurement_authorize_move(
        'rfq', rfq.status, odl_set_rfq_status.status, rfq.project_id, null, '{rfq.award}'
    );
    update odl.rfqs as r
    set
        status = odl_set_rfq_status.status,
        round = r.round + (rfq.status = 'evaluating' and odl_set_rfq_status.status = 'bidding')::integer
    where r.tenant_id = context.tenant_id and r.rfq_id = odl_set_rfq_status.rfq_id;
    perform odl.procurement_audit_move(
        'rfq.status_changed', 'rfq_id', odl_set_rfq_status.rfq_id, rfq.status, odl_set_rfq_status.status,
        rfq.project_id
    );
end
$$;

revoke all on function odl.odl_set_rfq_status(text, text) from public;
grant execute on function odl.odl_set_rfq_status(text, text) to odl_app;
comment on function odl.odl_set_rfq_status(text, text) is
'Moves an RFQ: issued, bidding (from evaluating: the next round), evaluating, cancelled; W on libraries at the '
'project. ODQ01 for a move the machine does not allow (awarded only through odl_award_rfq)';

create or replace function odl.odl_issue_rfq(rfq_id text)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select odl.odl_set_rfq_status(odl_issue_rfq.rfq_id, 'issued');
$$;

revoke all on function odl.odl_issue_rfq(text) from public;
grant execute on function odl.odl_issue_rfq(text) to odl_app;
comment on function odl.odl_issue_rfq(text) is 'Issues a drafted RFQ: odl_set_rfq_status(rfq_id, ''issued'')';

create or replace function odl.odl_submit_bid(
    rfq_id text,
    supplier_id text,
    currency text,
    lines jsonb,
    incoterms text default 'DAP',
    valid_until timestamptz default null
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
    new_id text := 'BID-' || odl.odl_ulid();
    foreign_line text;
begin
    -- FOR SHARE: bidding cannot close under a bid being written.
    select r.status, r.project_id, r.round into rfq
    from odl.rfqs as r
    where r.tenant_id = context.tenant_id and r.rfq_id = odl_submit_bid.rfq_id
    for share;
    if not found then
        perform odl.procurement_missing('RFQ', odl_submit_bid.rfq_id);
    end if;
    perform odl.procurement_authorize('bid.submit', rfq.project_id);
    perform odl.procurement_require_state(
        'RFQ', odl_submit_bid.rfq_id, rfq.status, '{bidding}', 'bids are taken only while it is bidding'
    );
    perform odl.procurement_require_approved_supplier(odl_submit_bid.supplier_id);
    perform odl.procurement_check_lines(odl_submit_bid.lines, 1000, 'rfq_line_id, unit_price, qty, lead_time_days');
    select l.value ->> 'rfq_line_id' into foreign_line
    from jsonb_array_elements(odl_submit_bid.lines) as l
    where not exists (
        select from odl.rfq_lines as r
        where r.tenant_id = context.tenant_id and r.rfq_id = odl_submit_bid.rfq_id
            and r.rfq_line_id = l.value ->> 'rfq_line_id'
    )
    limit 1;
    if found then
        raise exception using
            errcode = '22023',
            message = format('%s is no line of RFQ %s', coalesce(foreign_line, 'null'), odl_submit_bid.rfq_id);
    end if;
    insert into odl.bids (
        tenant_id, bid_id, rfq_id, round, supplier_id, currency, incoterms, valid_until, status, submitted_by
    )
    values (
        context.tenant_id, new_id, odl_submit_bid.rfq_id, rfq.round, odl_submit_bid.supplier_id,
        odl_submit_bid.currency, odl_submit_bid.incoterms, odl_submit_bid.valid_until, 'pending', context.user_id
    );
    insert into odl.bid_lines (tenant_id, bid_id, rfq_id, rfq_line_id, unit_price, qty, lead_time_days)
    select
        context.tenant_id, new_id, odl_submit_bid.rfq_id, l.value ->> 'rfq_line_id',
        (l.value ->> 'unit_price')::numeric, (l.value ->> 'qty')::numeric, (l.value ->> 'lead_time_days')::integer
    from jsonb_array_elements(odl_submit_bid.lines) as l
    order by l.value ->> 'rfq_line_id';
    -- No prices in the ledger: analysts read it without their clearance.
    perform odl.audit_append(
        'bid.submitted',
        jsonb_build_object(
            'bid_id', new_id, 'rfq_id', odl_submit_bid.rfq_id, 'supplier_id', odl_submit_bid.supplier_id,
            'round', rfq.round, 'lines', jsonb_array_length(odl_submit_bid.lines)
        ),
        rfq.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_submit_bid(text, text, text, jsonb, text, timestamptz) from public;
grant execute on function odl.odl_submit_bid(text, text, text, jsonb, text, timestamptz) to odl_app;
comment on function odl.odl_submit_bid(text, text, text, jsonb, text, timestamptz) is
'Records an approved supplier''s bid for the RFQ''s current round with its prices per line [{rfq_line_id, '
'unit_price, qty, lead_time_days}]; returns its id. The RFQ must be bidding (ODQ09), the supplier approved '
'(ODQ08), one bid per supplier and round (23505). W on libraries at the project';

create or replace function odl.odl_award_rfq(rfq_id text, awards jsonb)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    rfq record;
    award record;
    line record;
    offer record;
begin
    select r.status, r.project_id, r.round into rfq
    from odl.rfqs as r
    where r.tenant_id = context.tenant_id and r.rfq_id = odl_award_rfq.rfq_id
    for no key update;
    if not found then
        perform odl.procurement_missing('RFQ', odl_award_rfq.rfq_id);
    end if;
    perform odl.procurement_action_for('rfq', rfq.status, 'awarded');
    perform odl.procurement_authorize('rfq.award', rfq.project_id);
    if jsonb_typeof(odl_award_rfq.awards) is distinct from 'array' or jsonb_array_length(odl_award_rfq.awards) = 0 then
        raise exception using
            errcode = '22023',
            message = 'awards must be a non-empty array of objects {rfq_line_id, bid_id}';
    end if;
    for award in
        select a.value ->> 'rfq_line_id' as rfq_line_id, a.value ->> 'bid_id' as bid_id
        from jsonb_array_elements(odl_award_rfq.awards) as a
        order by 1
    loop
        select l.qty, l.awarded_bid_id into line
        from odl.rfq_lines as l
        where l.tenant_id = context.tenant_id and l.rfq_id = odl_award_rfq.rfq_id and l.rfq_line_id = award.rfq_line_id
        for update;
        if not found then
            raise exception using
                errcode = '22023',
                message = format('%s is no line of RFQ %s', coalesce(award.rfq_line_id, 'null'), odl_award_rfq.rfq_id);
        end if;
        if line.awarded_bid_id is not null then
            raise exception using
                errcode = 'ODQ03',
                message = format('RFQ line %s is awarded already', award.rfq_line_id),
                detail = format('awarded_bid_id %s', line.awarded_bid_id);
        end if;
        select bl.qty into offer
        from odl.bid_lines as bl
        inner join odl.bids as b on bl.tenant_id = b.tenant_id and bl.bid_id = b.bid_id
        where bl.tenant_id = context.tenant_id and bl.bid_id = award.bid_id and bl.rfq_line_id = award.rfq_line_id
            and b.round = rfq.round and b.status = 'pending';
        if not found then
            raise exception using
                errcode = '22023',
                message = format(
                    'bid %s has no pending offer for line %s in round %s', coalesce(award.bid_id, 'null'),
                    award.rfq_line_id, rfq.round
                );
        end if;
        update odl.rfq_lines as l
        set awarded_bid_id = award.bid_id, awarded_qty = least(offer.qty, line.qty)
        where l.tenant_id = context.tenant_id and l.rfq_line_id = award.rfq_line_id;
    end loop;
    update odl.bids as b
    set status = case
        when exists (
            select from odl.rfq_lines as l
            where l.tenant_id = b.tenant_id and l.rfq_id = b.rfq_id and l.awarded_bid_id = b.bid_id
        ) then 'won'
        else 'lost'
    end
    where b.tenant_id = context.tenant_id and b.rfq_id = odl_award_rfq.rfq_id and b.round = rfq.round
        and b.status = 'pending';
    update odl.rfqs as r set status = 'awarded'
    where r.tenant_id = context.tenant_id and r.rfq_id = odl_award_rfq.rfq_id;
    perform odl.audit_append(
        'rfq.awarded',
        jsonb_build_object('rfq_id', odl_award_rfq.rfq_id, 'round', rfq.round, 'awards', odl_award_rfq.awards),
        rfq.project_id
    );
end
$$;

revoke all on function odl.odl_award_rfq(text, jsonb) from public;
grant execute on function odl.odl_award_rfq(text, jsonb) to odl_app;
comment on function odl.odl_award_rfq(text, jsonb) is
'Awards an evaluating RFQ: each listed line [{rfq_line_id, bid_id}] to one pending bid of the current round '
'that offered it (the bid''s quantity, at most the line''s); bids with an awarded line are won, the others lost. '
'ODQ01 unless evaluating, ODQ03 for a line awarded already; A on libraries at the project';

create or replace function odl.odl_rfq_bids(rfq_id text)
returns table (
    bid_id text,
    supplier_id text,
    round integer,
    status text,
    currency text,
    rfq_line_id text,
    qty numeric,
    lead_time_days integer,
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
    select r.project_id into project
    from odl.rfqs as r
    where r.tenant_id = context.tenant_id and r.rfq_id = odl_rfq_bids.rfq_id;
    if not found then
        perform odl.procurement_missing('RFQ', odl_rfq_bids.rfq_id);
    end if;
    perform odl.require_right(project, 'libraries', 'R', 'reading bids');
    visible := odl.prices_visible(project);
    return query
    select
        b.bid_id, b.supplier_id, b.round, b.status, b.currency, bl.rfq_line_id, bl.qty, bl.lead_time_days,
        case when visible then bl.unit_price end, not visible
    from odl.bids as b
    inner join odl.bid_lines as bl on b.tenant_id = bl.tenant_id and b.bid_id = bl.bid_id
    where b.tenant_id = context.tenant_id and b.rfq_id = odl_rfq_bids.rfq_id
    order by b.round, b.bid_id, bl.rfq_line_id;
end
$$;

revoke all on function odl.odl_rfq_bids(text) from public;
grant execute on function odl.odl_rfq_bids(text) to odl_app;
comment on function odl.odl_rfq_bids(text) is
'The bids of an RFQ line by line (R on libraries at the project); unit_price is null and price_redacted true '
'unless the reader''s clearance reaches the policy''s classification of component pricing';
