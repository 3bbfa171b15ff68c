-- Invoices for analysts: under RLS (the context's tenant only), a security
-- barrier like the other analyst views. Amounts show as the PSU budgets'
-- do; no line names a user.

create or replace view odl.analyst_invoices
with (security_barrier)
as
select
    v.invoice_id,
    v.period_start,
    v.period_end,
    v.status,
    v.currency,
    v.total_minor,
    v.psu_used,
    coalesce(sum(l.amount_minor) filter (where l.kind = 'cycle'), 0)::bigint as cycles_minor,
    coalesce(sum(l.amount_minor) filter (where l.kind = 'proration'), 0)::bigint as prorations_minor,
    count(l.line_no) as lines
from odl.invoices as v
left join odl.invoice_lines as l on v.tenant_id = l.tenant_id and v.invoice_id = l.invoice_id
group by v.tenant_id, v.invoice_id;

revoke all on odl.analyst_invoices from public;
grant select on odl.analyst_invoices to odl_analyst;
comment on view odl.analyst_invoices is
'The tenant''s invoices (odl_analyst): total_minor = cycles_minor + prorations_minor, and psu_used is PSU from the '
'PSU ledger that no other invoice counted';
comment on column odl.analyst_invoices.invoice_id is 'The invoice';
comment on column odl.analyst_invoices.period_start is 'Start of the period invoiced';
comment on column odl.analyst_invoices.period_end is 'End of the period invoiced';
comment on column odl.analyst_invoices.status is 'draft, open, paid, void, refunded or past_due';
comment on column odl.analyst_invoices.currency is 'ISO 4217 currency of the amounts';
comment on column odl.analyst_invoices.total_minor is 'What the invoice bills, in minor units';
comment on column odl.analyst_invoices.psu_used is 'PSU consumed that the invoice counts (included in the plan)';
comment on column odl.analyst_invoices.cycles_minor is 'Subscription cycles billed, in minor units';
comment on column odl.analyst_invoices.prorations_minor is 'Upgrades billed for the rest of their cycle';
comment on column odl.analyst_invoices.lines is 'How many lines the invoice has';
