-- Revert odl-db:billing_api from pg

begin;

drop view odl.analyst_invoices;
drop function odl.odl_invoice_lines(text);
drop function odl.odl_issue_invoice(timestamptz, timestamptz);
drop function odl.odl_change_plan(text, integer, text);
drop function odl.odl_subscription();
drop function odl.billing_maintenance();
drop function odl.billing_catch_up(text);
drop function odl.cycle_amount(text, integer, text);
drop function odl.cycle_interval(text);
delete from odl.error_codes where sqlstate in ('ODJ02', 'ODJ03', 'ODJ04', 'ODJ05', 'ODJ06');

commit;
