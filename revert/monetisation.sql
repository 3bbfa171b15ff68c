-- Revert odl-db:monetisation from pg

begin;

-- Three lists, one check each: a psql variable is set on one line.
\set data_tables 'odl.subscriptions,odl.psu_budgets,odl.psu_reservations,odl.psu_ledger'
\ir lib/refuse_data_loss.psql
\set data_tables 'odl.marketplace_orders,odl.marketplace_order_shares'
\ir lib/refuse_data_loss.psql
\set data_tables 'odl.escrows,odl.escrow_milestones,odl.escrow_disputes'
\ir lib/refuse_data_loss.psql

drop type odl.psu_result;
drop table odl.escrow_disputes;
drop table odl.escrow_milestones;
drop table odl.escrows;
drop table odl.governance_event_names;
drop table odl.marketplace_order_shares;
drop table odl.marketplace_orders;
drop table odl.fee_schedule;
drop table odl.marketplace_flows;
drop table odl.psu_ledger;
drop table odl.psu_reservations;
drop table odl.psu_budgets;
drop table odl.subscriptions;
drop table odl.plans;

commit;
