-- Revert odl-db:billing from pg

begin;

\set data_tables 'odl.subscription_changes,odl.billing_items,odl.invoices,odl.invoice_lines'
\ir lib/refuse_data_loss.psql

drop table odl.invoice_lines;
drop table odl.billing_items;
drop table odl.invoices;
drop table odl.subscription_changes;

commit;
