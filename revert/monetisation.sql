-- Revert odl-db:monetisation from pg

begin;

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
