-- Revert odl-db:traceability from pg

begin;

\set data_tables 'odl.trace_links'
\ir lib/refuse_data_loss.psql

drop index odl.warranty_claims_trace_serial_idx;
drop index odl.component_index_trace_project_idx;
drop table odl.stock_move_serials;
drop index odl.po_lines_trace_component_idx;
drop index odl.po_lines_trace_supplier_idx;
drop index odl.serials_trace_status_idx;
drop index odl.serials_trace_lot_idx;
drop table odl.trace_links;

commit;
