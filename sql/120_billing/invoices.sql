-- Invoices. An invoice for a period that has ended takes every billing
-- item owed before the period's end that no invoice took yet (cycles and
-- prorations), and, for each of the tenant's PSU budgets that began before
-- the period's end, the PSU it consumed that no earlier invoice counted:
-- its consumed total (the PSU ledger's sum, read under the budget's lock,
-- so a charge in flight is waited for) less what earlier invoices counted.
-- So each item is invoiced once and each PSU consumed is counted once,
-- even when a charge commits after the period it was made in. PSU lines
-- cost nothing: the plan includes them (facts §3.2, no per-run billing).

create or replace function odl.odl_issue_invoice(period_start timestamptz, period_end timestamptz)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_tenant_admin('issuing an invoice');
    new_id text := odl.odl_ulid();
    earlier odl.invoices;
    line_count integer := 0;
    item record;
    budget record;
    currencies text[];
begin
    if odl_issue_invoice.period_start is null or odl_issue_invoice.period_end is null
        or odl_issue_invoice.period_end <= odl_issue_invoice.period_start
    then
        raise exception using
            errcode = '22023',
            message = 'an invoice period ends after it starts',
            detail = format('period %s to %s', odl_issue_invoice.period_start, odl_issue_invoice.period_end);
    end if;
    if odl_issue_invoice.period_end > now() then
        raise exception using
            errcode = 'ODJ04',
            message = 'invoice period has not ended',
            detail = format('period ends %s, now is %s', odl_issue_invoice.period_end, now());
    end if;
    -- One invoicing at a time per tenant: the overlap check holds.
    perform pg_advisory_xact_lock(hashtextextended('odl.invoices:' || context.tenant_id, 0));
    select i.* into earlier
    from odl.invoices as i
    where i.tenant_id = context.tenant_id and i.period_start < odl_issue_invoice.period_end
        and i.period_end > odl_issue_invoice.period_start
    limit 1;
    if found then
        raise exception using
            errcode = 'ODJ05',
            message = 'invoice period overlaps an invoice issued before',
            detail = format(
                'invoice %s covers %s to %s', earlier.invoice_id, earlier.period_start, earlier.period_end
            );
    end if;
    perform odl.billing_catch_up(context.tenant_id);

    select coalesce(array_agg(distinct i.currency), '{}') into currencies
    from odl.billing_items as i
    where i.tenant_id = context.tenant_id and i.invoice_id is null and i.billed_at < odl_issue_invoice.period_end;
    if cardinality(currencies) > 1 then
        raise exception using
            errcode = '22023',
            message = 'an invoice is in one currency',
            detail = format('items owed in %s', array_to_string(currencies, ', '));
    end if;
    insert into odl.invoices (
        tenant_id, invoice_id, period_start, period_end, currency, total_minor, psu_used, issued_by
    ) values (
        context.tenant_id, new_id, odl_issue_invoice.period_start, odl_issue_invoice.period_end,
        coalesce(currencies[1], 'USD'), 0, 0, context.user_id
    );

    for item in
        select i.*
        from odl.billing_items as i
        where i.tenant_id = context.tenant_id and i.invoice_id is null and i.billed_at < odl_issue_invoice.period_end
        order by i.billed_at, i.item_id
        for update
    loop
        line_count := line_count + 1;
        insert into odl.invoice_lines (tenant_id, invoice_id, line_no, kind, description, amount_minor, item_id)
        values (
            context.tenant_id, new_id, line_count, item.kind,
            format(
                '%s%s, %s seat(s), %s, %s to %s', case when item.kind = 'proration' then 'Upgrade to ' else '' end,
                item.plan_code, item.seats, item.billing_cycle, item.period_start, item.period_end
            ),
            item.amount_minor, item.item_id
        );
        update odl.billing_items as i set invoice_id = new_id
        where i.tenant_id = item.tenant_id and i.item_id = item.item_id;
    end loop;

    for budget in
        select b.budget_id, b.period_start, b.period_end, b.consumed
        from odl.psu_budgets as b
        where b.tenant_id = context.tenant_id and b.user_id is null and b.period_start < odl_issue_invoice.period_end
        order by b.period_start
        for share
    loop
        budget.consumed := budget.consumed - coalesce((
            select sum(l.psu) from odl.invoice_lines as l
            where l.tenant_id = context.tenant_id and l.budget_id = budget.budget_id
        ), 0);
        if budget.consumed > 0 then
            line_count := line_count + 1;
            insert into odl.invoice_lines (
                tenant_id, invoice_id, line_no, kind, description, amount_minor, psu, budget_id
            ) values (
                context.tenant_id, new_id, line_count, 'psu',
                format('PSU consumed, budget of %s to %s (included)', budget.period_start, budget.period_end),
                0, budget.consumed, budget.budget_id
            );
        end if;
    end loop;

    update odl.invoices as v
    set total_minor = t.total, psu_used = t.psu
    from (
        select coalesce(sum(l.amount_minor), 0)::bigint as total, coalesce(sum(l.psu), 0)::bigint as psu
        from odl.invoice_lines as l
        where l.tenant_id = context.tenant_id and l.invoice_id = new_id
    ) as t
    where v.tenant_id = context.tenant_id and v.invoice_id = new_id;
    perform odl.audit_append(
        'invoice.issued',
        (
            select jsonb_build_object(
                'invoice_id', v.invoice_id, 'period_start', v.period_start, 'period_end', v.period_end,
                'total_minor', v.total_minor, 'currency', v.currency, 'psu_used', v.psu_used, 'lines', line_count
            )
            from odl.invoices as v where v.tenant_id = context.tenant_id and v.invoice_id = new_id
        )
    );
    return new_id;
end
$$;

revoke all on function odl.odl_issue_invoice(timestamptz, timestamptz) from public;
grant execute on function odl.odl_issue_invoice(timestamptz, timestamptz) to odl_app;
comment on function odl.odl_issue_invoice(timestamptz, timestamptz) is
'Issues the tenant''s invoice for a period that has ended (ODJ04) and overlaps no earlier invoice (ODJ05): every '
'billing item owed before its end not yet invoiced, and the PSU each budget consumed since the last invoice, '
'from the PSU ledger. Returns its id. Tenant administrator only (ODR01)';

create or replace function odl.odl_invoice_lines(invoice_id text)
returns table (line_no smallint, kind text, description text, amount_minor bigint, psu bigint, currency text)
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_tenant_admin('reading an invoice');
begin
    if not exists (
        select from odl.invoices as v
        where v.tenant_id = context.tenant_id and v.invoice_id = odl_invoice_lines.invoice_id
    ) then
        raise exception using
            errcode = 'ODJ06',
            message = 'invoice does not exist',
            detail = format('invoice_id %s', quote_nullable(odl_invoice_lines.invoice_id));
    end if;
    return query
    select l.line_no, l.kind, l.description, l.amount_minor, l.psu, v.currency
    from odl.invoice_lines as l
    inner join odl.invoices as v on l.tenant_id = v.tenant_id and l.invoice_id = v.invoice_id
    where l.tenant_id = context.tenant_id and l.invoice_id = odl_invoice_lines.invoice_id
    order by l.line_no;
end
$$;

revoke all on function odl.odl_invoice_lines(text) from public;
grant execute on function odl.odl_invoice_lines(text) to odl_app;
comment on function odl.odl_invoice_lines(text) is
'The lines of one of the tenant''s invoices, in order, with its currency. Tenant administrator only. ODR01, ODJ06';
