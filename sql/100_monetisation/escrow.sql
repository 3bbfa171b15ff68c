-- Escrow. Money of an order is held in milestones; a governance event,
-- recorded in the tenant's audit ledger as governance.<name>, releases on
-- each escrow of its project opened before it the first unreleased
-- milestone whose trigger it names (a site QR scan counts as commissioning
-- started). The milestone keeps the event's seq and id, and one event
-- releases at most one milestone of an escrow (a unique constraint), so a
-- replayed event releases nothing. A dispute pauses every release: a
-- disputed escrow is skipped, and events that came meanwhile may be
-- applied again once it is resolved.

create or replace function odl.escrow_apply(event_seq bigint)
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    event record;
    escrow record;
    milestone record;
    released integer := 0;
begin
    select e.seq, e.event_id, e.project_id, e.created_at, n.event_name, n.releases, n.action
    into event
    from odl.audit_events as e
    inner join odl.governance_event_names as n on e.action = 'governance.' || n.event_name
    where e.tenant_id = context.tenant_id and e.seq = escrow_apply.event_seq;
    if not found or event.project_id is null then
        raise exception using
            errcode = 'ODM09',
            message = 'governance event does not exist',
            detail = format('seq %s in the audit ledger of tenant %s', escrow_apply.event_seq, context.tenant_id);
    end if;
    perform odl.odl_check_action(event.project_id, event.action);
    if event.releases is null then
        return 0;
    end if;
    for escrow in
        select s.escrow_id, s.amount_minor, s.released_minor
        from odl.escrows as s
        where s.tenant_id = context.tenant_id and s.project_id = event.project_id
            and s.status in ('open', 'partially_released') and s.created_at <= event.created_at
        order by s.escrow_id
        for update
    loop
        continue when exists (
            select from odl.escrow_milestones as m
            where m.tenant_id = context.tenant_id and m.escrow_id = escrow.escrow_id
                and m.release_event_id = event.event_id
        );
        update odl.escrow_milestones as m
        set released_at = now(), release_event_seq = event.seq, release_event_id = event.event_id
        where m.tenant_id = context.tenant_id and m.escrow_id = escrow.escrow_id and m.position = (
            select f.position from odl.escrow_milestones as f
            where f.tenant_id = context.tenant_id and f.escrow_id = escrow.escrow_id and f.released_at is null
                and f.trigger_event in (event.event_name, event.releases)
            order by f.position
            limit 1
        )
        returning m.position, m.amount_minor into milestone;
        continue when milestone.position is null;
        update odl.escrows as s
        set
            released_minor = s.released_minor + milestone.amount_minor,
            status = case
                when s.released_minor + milestone.amount_minor = s.amount_minor then 'released'
                else 'partially_released'
            end
        where s.tenant_id = context.tenant_id and s.escrow_id = escrow.escrow_id;
        perform odl.audit_append(
            'escrow.released',
            jsonb_build_object(
                'escrow_id', escrow.escrow_id, 'position', milestone.position, 'amount_minor', milestone.amount_minor,
                'event_seq', event.seq, 'event_id', event.event_id
            ),
            event.project_id
        );
        released := released + 1;
        milestone := null;
    end loop;
    return released;
end
$$;

revoke all on function odl.escrow_apply(bigint) from public;
comment on function odl.escrow_apply(bigint) is
'Releases, for the governance event of the tenant''s audit ledger at seq, one milestone of each escrow of its '
'project that the event triggers; returns how many. Needs the right that records the event';

create or replace function odl.odl_governance_event(project_id text, event_name text, metadata jsonb default '{}')
returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    needed text;
    seq bigint;
begin
    select n.action into needed
    from odl.governance_event_names as n
    where n.event_name = odl_governance_event.event_name;
    if not found then
        raise exception using
            errcode = '22023',
            message = format('%s is no governance event', quote_nullable(odl_governance_event.event_name)),
            hint = 'The events are listed in odl.governance_event_names.';
    end if;
    perform odl.check_json(
        odl_governance_event.metadata, odl_governance_event.metadata::text, 'audit_payload_bytes', 'the metadata'
    );
    perform odl.odl_check_action(odl_governance_event.project_id, needed);
    seq := odl.audit_append(
        'governance.' || odl_governance_event.event_name,
        jsonb_build_object('metadata', coalesce(odl_governance_event.metadata, '{}')),
        odl_governance_event.project_id
    );
    perform odl.escrow_apply(seq);
    return seq;
end
$$;

revoke all on function odl.odl_governance_event(text, text, jsonb) from public;
grant execute on function odl.odl_governance_event(text, text, jsonb) to odl_app;
comment on function odl.odl_governance_event(text, text, jsonb) is
'Records a governance event of a project (publish_design, approve_merge, commissioning_started, ...: '
'odl.governance_event_names, each needing the right of its action) in the audit ledger as governance.<name>, '
'releases the escrow milestones it triggers, and returns its seq in the ledger';

create or replace function odl.odl_escrow_apply_event(event_seq bigint)
returns integer
language sql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select odl.escrow_apply(event_seq)
$$;

revoke all on function odl.odl_escrow_apply_event(bigint) from public;
grant execute on function odl.odl_escrow_apply_event(bigint) to odl_app;
comment on function odl.odl_escrow_apply_event(bigint) is
'Applies a governance event already in the tenant''s audit ledger (its seq) to the escrows of its project again: '
'after a dispute ends, or a replay. Releases each milestone at most once; returns how many it released';

create or replace function odl.odl_open_escrow(order_id text, milestones jsonb default null)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    ordered record;
    plan jsonb;
    new_id text := odl.odl_ulid();
    total bigint;
begin
    select o.project_id, o.currency, o.item_total_minor into ordered
    from odl.marketplace_orders as o
    where o.tenant_id = context.tenant_id and o.order_id::text = odl_open_escrow.order_id;
    if not found then
        raise exception using
            errcode = 'ODM07',
            message = 'order does not exist',
            detail = format('order_id %s', quote_nullable(odl_open_escrow.order_id));
    end if;
    perform odl.require_right(ordered.project_id, 'finance', 'W', 'opening an escrow');
    -- The default milestones of the facts: 36/36/28% of the item total, the
    -- last taking the rest.
    plan := coalesce(odl_open_escrow.milestones, jsonb_build_array(
        jsonb_build_object(
            'name', 'Acceptance', 'trigger_event', 'approve_merge',
            'amount_minor', round(ordered.item_total_minor * 0.36)::bigint
        ),
        jsonb_build_object(
            'name', 'Shipment', 'trigger_event', 'commissioning_started',
            'amount_minor', round(ordered.item_total_minor * 0.36)::bigint
        ),
        jsonb_build_object(
            'name', 'Commissioning', 'trigger_event', 'commissioning_completed',
            'amount_minor', ordered.item_total_minor - 2 * round(ordered.item_total_minor * 0.36)::bigint
        )
    ));
    if jsonb_typeof(plan) <> 'array' or jsonb_array_length(plan) not between 1 and 10 or exists (
        select
        from jsonb_array_elements(plan) as m (value)
        where jsonb_typeof(m.value) <> 'object'
            or jsonb_typeof(m.value -> 'name') is distinct from 'string'
            or length(m.value ->> 'name') not between 1 and 200
            or jsonb_typeof(m.value -> 'amount_minor') is distinct from 'number'
            or (m.value ->> 'amount_minor') !~ '^[1-9][0-9]{0,15}$'
            or not exists (
                select from odl.governance_event_names as n
                where n.event_name = m.value ->> 'trigger_event' and n.releases is not null
            )
    ) then
        raise exception using
            errcode = '22023',
            message = 'milestones are an array of 1 to 10 objects {name, amount_minor, trigger_event}',
            detail = 'amount_minor a positive integer of minor units, trigger_event a milestone trigger of '
            'odl.governance_event_names';
    end if;
    select sum((m.value ->> 'amount_minor')::bigint) into total from jsonb_array_elements(plan) as m (value);
    if total <> ordered.item_total_minor then
        raise exception using
            errcode = '22023',
            message = 'the milestones must add up to the order''s item total',
            detail = format('milestones %s, item_total_minor %s', total, ordered.item_total_minor);
    end if;
    insert into odl.escrows (tenant_id, escrow_id, order_id, project_id, currency, amount_minor)
    values (context.tenant_id, new_id, odl_open_escrow.order_id, ordered.project_id, ordered.currency, total);
    insert into odl.escrow_milestones (tenant_id, escrow_id, position, name, amount_minor, trigger_event)
    select
        context.tenant_id, new_id, m.n, m.value ->> 'name', (m.value ->> 'amount_minor')::bigint,
        m.value ->> 'trigger_event'
    from jsonb_array_elements(plan) with ordinality as m (value, n);
    perform odl.audit_append(
        'escrow.opened',
        jsonb_build_object('escrow_id', new_id, 'order_id', odl_open_escrow.order_id, 'amount_minor', total),
        ordered.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_open_escrow(text, jsonb) from public;
grant execute on function odl.odl_open_escrow(text, jsonb) to odl_app;
comment on function odl.odl_open_escrow(text, jsonb) is
'Holds an order''s item total in escrow (W on finance at its project), in up to 10 milestones '
'[{name, amount_minor, trigger_event}] adding up to it; by default Acceptance (approve_merge) 36%, Shipment '
'(commissioning_started) 36%, Commissioning (commissioning_completed) the rest. ODM07 unknown order, 23505 an '
'escrow exists';

create or replace function odl.odl_open_dispute(escrow_id text, reason text, amount_contested_minor bigint)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    held record;
    new_id text := odl.odl_ulid();
begin
    select s.escrow_id, s.project_id, s.status into held
    from odl.escrows as s
    where s.tenant_id = context.tenant_id and s.escrow_id::text = odl_open_dispute.escrow_id
    for update;
    if not found then
        raise exception using
            errcode = 'ODM07',
            message = 'escrow does not exist',
            detail = format('escrow_id %s', quote_nullable(odl_open_dispute.escrow_id));
    end if;
    perform odl.require_right(held.project_id, 'finance', 'WP', 'disputing an escrow');
    if odl_open_dispute.reason is null or odl_open_dispute.amount_contested_minor is null then
        raise exception using errcode = '22004', message = 'reason and amount_contested_minor must not be null';
    end if;
    if odl_open_dispute.reason not in (
        'fraud', 'product_not_received', 'not_as_described', 'duplicate', 'duplicate_order', 'other'
    ) or odl_open_dispute.amount_contested_minor <= 0 then
        raise exception using
            errcode = '22023',
            message = 'a dispute has a reason of the facts and contests a positive amount',
            detail = format('reason %s, amount_contested_minor %s', odl_open_dispute.reason,
                odl_open_dispute.amount_contested_minor);
    end if;
    if held.status not in ('open', 'partially_released') then
        raise exception using
            errcode = 'ODM08',
            message = format('an escrow that is %s cannot be disputed', held.status),
            detail = format('escrow_id %s', held.escrow_id);
    end if;
    update odl.escrows as s set status = 'disputed', status_before_dispute = s.status
    where s.tenant_id = context.tenant_id and s.escrow_id = held.escrow_id;
    insert into odl.escrow_disputes (
        tenant_id, dispute_id, escrow_id, reason, amount_contested_minor, opened_by
    ) values (
        context.tenant_id, new_id, held.escrow_id, odl_open_dispute.reason, odl_open_dispute.amount_contested_minor,
        context.user_id
    );
    perform odl.audit_append(
        'escrow.disputed',
        jsonb_build_object('escrow_id', held.escrow_id, 'dispute_id', new_id, 'reason', odl_open_dispute.reason),
        held.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_open_dispute(text, text, bigint) from public;
grant execute on function odl.odl_open_dispute(text, text, bigint) to odl_app;
comment on function odl.odl_open_dispute(text, text, bigint) is
'Opens a dispute of an open or partly released escrow (W or P on finance at its project), which pauses its '
'releases; returns the dispute''s id. ODM07 unknown escrow, ODM08 not open';

create or replace function odl.odl_resolve_dispute(dispute_id text, outcome text)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_tenant_admin('resolving a dispute');
    disputed record;
    escrow_status text;
begin
    if odl_resolve_dispute.outcome is null or odl_resolve_dispute.outcome not in (
        'under_review', 'won', 'lost', 'closed'
    ) then
        raise exception using
            errcode = '22023',
            message = 'a dispute''s outcome is under_review, won, lost or closed',
            detail = format('outcome %s', quote_nullable(odl_resolve_dispute.outcome));
    end if;
    select d.dispute_id, d.escrow_id, d.status, s.project_id into disputed
    from odl.escrow_disputes as d
    inner join odl.escrows as s on d.tenant_id = s.tenant_id and d.escrow_id = s.escrow_id
    where d.tenant_id = context.tenant_id and d.dispute_id::text = odl_resolve_dispute.dispute_id
    for update;
    if not found then
        raise exception using
            errcode = 'ODM07',
            message = 'dispute does not exist',
            detail = format('dispute_id %s', quote_nullable(odl_resolve_dispute.dispute_id));
    end if;
    if disputed.status in ('won', 'lost', 'closed') then
        raise exception using
            errcode = 'ODM08',
            message = format('the dispute is %s already', disputed.status),
            detail = format('dispute_id %s', disputed.dispute_id);
    end if;
    update odl.escrow_disputes as d
    set
        status = odl_resolve_dispute.outcome,
        closed_at = case when odl_resolve_dispute.outcome <> 'under_review' then now() end
    where d.tenant_id = context.tenant_id and d.dispute_id = disputed.dispute_id;
    -- Lost: what was not released goes back to the buyer. Won or closed:
    -- the escrow returns to where it was, and releases resume.
    update odl.escrows as s
    set
        status = case odl_resolve_dispute.outcome when 'lost' then 'refunded' else s.status_before_dispute end,
        refunded_minor = case
            when odl_resolve_dispute.outcome = 'lost' then s.amount_minor - s.released_minor else 0
        end,
        status_before_dispute = null
    where s.tenant_id = context.tenant_id and s.escrow_id = disputed.escrow_id
        and odl_resolve_dispute.outcome <> 'under_review'
    returning s.status into escrow_status;
    perform odl.audit_append(
        'escrow.dispute_' || odl_resolve_dispute.outcome,
        jsonb_build_object('escrow_id', disputed.escrow_id, 'dispute_id', disputed.dispute_id),
        disputed.project_id
    );
    return coalesce(escrow_status, 'disputed');
end
$$;

revoke all on function odl.odl_resolve_dispute(text, text) from public;
grant execute on function odl.odl_resolve_dispute(text, text) to odl_app;
comment on function odl.odl_resolve_dispute(text, text) is
'The tenant''s administrator moves a dispute on: under_review, or closes it won or closed (the escrow returns to '
'its state before and releases resume) or lost (the unreleased amount is refunded). Returns the escrow''s status';
