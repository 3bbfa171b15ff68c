-- Verify odl-db:billing on pg

select tenant_id, change_id, subscription_id, kind, to_plan_code, effective_at, applied_at
from odl.subscription_changes where false;
select tenant_id, invoice_id, period_start, period_end, total_minor, psu_used, status from odl.invoices where false;
select tenant_id, item_id, kind, period_start, billed_at, amount_minor, invoice_id from odl.billing_items where false;
select tenant_id, invoice_id, line_no, kind, amount_minor, psu, item_id, budget_id from odl.invoice_lines where false;
select 1 / (count(*) = 4)::int
from pg_catalog.pg_class as c
where c.oid in (
    'odl.subscription_changes'::regclass, 'odl.invoices'::regclass, 'odl.billing_items'::regclass,
    'odl.invoice_lines'::regclass
)
and c.relrowsecurity and c.relforcerowsecurity;
