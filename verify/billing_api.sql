-- Verify odl-db:billing_api on pg

select 'odl.odl_change_plan(text, integer, text)'::regprocedure;
select 'odl.odl_issue_invoice(timestamptz, timestamptz)'::regprocedure;
select 'odl.odl_subscription()'::regprocedure;
select 'odl.odl_invoice_lines(text)'::regprocedure;
select 'odl.billing_catch_up(text)'::regprocedure;
select 'odl.billing_maintenance()'::regprocedure;
select invoice_id, period_start, total_minor, psu_used, cycles_minor, prorations_minor, lines
from odl.analyst_invoices where false;
select 1 / count(*)::int
from pg_catalog.pg_class as c
where
    c.oid = 'odl.analyst_invoices'::regclass and 'security_barrier=true' = any(c.reloptions)
    and pg_catalog.has_table_privilege('odl_analyst', c.oid, 'SELECT');
-- PRO: $79 a seat a month; annual prepay 10% off.
select 1 / (odl.cycle_amount('PRO', 3, 'monthly') = 23700 and odl.cycle_amount('PRO', 1, 'annual') = 85320)::int;
select 1 / (count(*) = 5)::int from odl.error_codes where sqlstate in ('ODJ02', 'ODJ03', 'ODJ04', 'ODJ05', 'ODJ06');
