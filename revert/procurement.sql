-- Revert odl-db:procurement from pg

begin;

\set data_tables 'odl.suppliers,odl.rfqs,odl.rfq_lines,odl.bids,odl.bid_lines,odl.purchase_orders,odl.po_lines,'
\set data_tables :data_tables 'odl.shipments,odl.receipts,odl.stock_balances,odl.stock_moves,odl.serials,'
\set data_tables :data_tables 'odl.warranty_claims,odl.returns'
\ir lib/refuse_data_loss.psql

drop table odl.returns;
drop table odl.warranty_claims;
drop table odl.serials;
drop table odl.stock_moves;
drop table odl.stock_balances;
drop table odl.receipts;
drop table odl.shipments;
drop table odl.po_lines;
drop table odl.purchase_orders;
alter table odl.rfq_lines drop constraint rfq_lines_awarded_bid_line;
drop table odl.bid_lines;
drop table odl.bids;
drop table odl.rfq_lines;
drop table odl.rfqs;
drop table odl.suppliers;
drop table odl.procurement_transitions;
drop table odl.procurement_actions;

commit;
