-- Marketplace orders and their shares, exact to the cent: every party of
-- the flow's schedule but one gets its basis points of the item total,
-- rounded half up to a whole minor unit; the remainder party gets the rest,
-- so the shares always add up to the item total.

create or replace function odl.odl_fee_shares(flow text, item_total_minor bigint)
returns table (party text, basis_points integer, amount_minor bigint)
language sql
stable
strict
parallel safe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    with fixed as (
        select
            f.party,
            f.basis_points,
            round(odl_fee_shares.item_total_minor * f.basis_points / 10000.0)::bigint as amount
        from odl.fee_schedule as f
        where f.flow = odl_fee_shares.flow
    )

    select
        x.party,
        x.basis_points,
        coalesce(x.amount, odl_fee_shares.item_total_minor - sum(x.amount) over ())
    from fixed as x
    order by x.party
$$;

revoke all on function odl.odl_fee_shares(text, bigint) from public;
grant execute on function odl.odl_fee_shares(text, bigint) to odl_app, odl_analyst;
comment on function odl.odl_fee_shares(text, bigint) is
'Each party''s share of an item total in a flow (odl.fee_schedule), in minor units: basis points rounded half up, '
'the remainder party taking the rest, so the shares add up to the total exactly';

create or replace function odl.odl_create_order(
    project_id text,
    flow text,
    currency text,
    item_total_minor bigint,
    processing_fee_minor bigint default 0
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    new_id text := odl.odl_ulid();
begin
    if odl_create_order.item_total_minor is null or odl_create_order.processing_fee_minor is null
        or odl_create_order.currency is null then
        raise exception using
            errcode = '22004',
            message = 'currency, item_total_minor and processing_fee_minor must not be null';
    end if;
    if not exists (select from odl.marketplace_flows as f where f.flow = odl_create_order.flow) then
        raise exception using
            errcode = '22023',
            message = format('%s is no marketplace flow', quote_nullable(odl_create_order.flow)),
            hint = 'The flows are listed in odl.marketplace_flows.';
    end if;
    if odl_create_order.currency !~ '^[A-Z]{3}$' or odl_create_order.item_total_minor <= 0
        or odl_create_order.processing_fee_minor < 0
        or odl_create_order.item_total_minor > 100000000000000
        or odl_create_order.processing_fee_minor > 100000000000000 then
        raise exception using
            errcode = '22023',
            message = 'an order has an ISO 4217 currency, a positive item total and a fee of 0 or more (below 10^14)',
            detail = format(
                'currency %s, item_total_minor %s, processing_fee_minor %s', odl_create_order.currency,
                odl_create_order.item_total_minor, odl_create_order.processing_fee_minor
            );
    end if;
    perform odl.require_right(odl_create_order.project_id, 'finance', 'W', 'creating an order');
    insert into odl.marketplace_orders (
        tenant_id, order_id, project_id, flow, currency, item_total_minor, processing_fee_minor, grand_total_minor,
        created_by
    ) values (
        context.tenant_id, new_id, odl_create_order.project_id, odl_create_order.flow, odl_create_order.currency,
        odl_create_order.item_total_minor, odl_create_order.processing_fee_minor,
        odl_create_order.item_total_minor + odl_create_order.processing_fee_minor, context.user_id
    );
    insert into odl.marketplace_order_shares (tenant_id, order_id, party, basis_points, amount_minor)
    select context.tenant_id, new_id, s.party, s.basis_points, s.amount_minor
    from odl.odl_fee_shares(odl_create_order.flow, odl_create_order.item_total_minor) as s;
    perform odl.audit_append(
        'order.created',
        jsonb_build_object(
            'order_id', new_id, 'flow', odl_create_order.flow, 'currency', odl_create_order.currency,
            'item_total_minor', odl_create_order.item_total_minor,
            'processing_fee_minor', odl_create_order.processing_fee_minor
        ),
        odl_create_order.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_create_order(text, text, text, bigint, bigint) from public;
grant execute on function odl.odl_create_order(text, text, text, bigint, bigint) to odl_app;
comment on function odl.odl_create_order(text, text, text, bigint, bigint) is
'Records a marketplace transaction of a project (W on finance there) in minor units, with each party''s share '
'(odl.odl_fee_shares); the buyer pays item total + processing fee. Returns the order''s id';
