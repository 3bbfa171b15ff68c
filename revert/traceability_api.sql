-- Revert odl-db:traceability_api from pg

begin;

drop function if exists odl.odl_trace_open_claims(text);
drop function if exists odl.odl_trace_approved_not_ordered(text);
drop function if exists odl.odl_trace_received_not_installed(text);
drop function if exists odl.odl_trace_lot_installed(text, text, text);
drop function if exists odl.odl_trace_history(text, text);
drop function if exists odl.odl_trace_where(text, text);
drop view if exists odl.analyst_approved_not_ordered;
drop view if exists odl.analyst_received_not_installed;
drop view if exists odl.analyst_serials;
drop function if exists odl.odl_trace_install(text, text, text[], text, text, timestamptz, text);
drop function if exists odl.odl_trace_receive(text, numeric, text, text, text[], text, timestamptz, text);
drop function if exists odl.odl_trace_ship(text, text, timestamptz, text, text);
drop trigger if exists stock_moves_index_serials on odl.stock_moves;
drop function if exists odl.stock_moves_index_serials();
drop function if exists odl.trace_location_uri(text);
drop function if exists odl.trace_event(timestamptz, text, text, jsonb, jsonb, text, text);
drop function if exists odl.trace_link(text, text, text, text);
drop function if exists odl.trace_require_gtin(text, text);
drop function if exists odl.trace_component_gtin(text, text);
drop function if exists odl.trace_readable_projects(text);
delete from odl.error_codes where sqlstate in ('ODF01', 'ODF02', 'ODF03');

commit;
