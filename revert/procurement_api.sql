-- Revert odl-db:procurement_api from pg

begin;

drop policy project_rights on odl.receipts;
drop policy project_rights on odl.shipments;
drop policy project_rights on odl.bids;
drop policy project_rights on odl.rfq_lines;
drop policy project_rights on odl.warranty_claims;
drop policy project_rights on odl.serials;
drop policy project_rights on odl.stock_moves;
drop policy project_rights on odl.returns;
drop policy project_rights on odl.purchase_orders;
drop policy project_rights on odl.rfqs;
drop function odl.odl_readable_project_sections();

drop view odl.analyst_stock;
drop view odl.analyst_order_lines;
drop view odl.analyst_open_warranty_claims;

drop function odl.odl_set_return_status(text, text, text);
drop function odl.odl_open_return(text, numeric, text, text, text, text, text[]);
drop function odl.odl_set_claim_status(text, text);
drop function odl.odl_open_warranty_claim(text, text, text, text, text);
drop function odl.odl_move_stock(text, text, numeric, text, text, text, text, text, text[]);
drop function odl.odl_receive(text, numeric, text, text, text[], text);
drop function odl.odl_set_shipment_status(text, text);
drop function odl.odl_ship(text, text, text);
drop function odl.odl_po_lines(text);
drop function odl.odl_set_po_status(text, text);
drop function odl.odl_issue_po(text, text, jsonb, text, text);
drop function odl.odl_rfq_bids(text);
drop function odl.odl_award_rfq(text, jsonb);
drop function odl.odl_submit_bid(text, text, text, jsonb, text, timestamptz);
drop function odl.odl_issue_rfq(text);
drop function odl.odl_set_rfq_status(text, text);
drop function odl.odl_create_rfq(text, text, jsonb, timestamptz);
drop function odl.odl_set_supplier_status(text, text);
drop function odl.odl_create_supplier(text, text, text);

drop trigger stock_moves_apply on odl.stock_moves;
drop trigger returns_count_returned on odl.returns;
drop trigger stock_moves_refuse_change on odl.stock_moves;
drop trigger receipts_refuse_change on odl.receipts;
drop trigger receipts_count_received on odl.receipts;
drop trigger purchase_orders_release on odl.purchase_orders;
drop trigger po_lines_count_ordered on odl.po_lines;
drop trigger rfq_lines_award_once on odl.rfq_lines;
drop trigger returns_transition on odl.returns;
drop trigger warranty_claims_transition on odl.warranty_claims;
drop trigger shipments_transition on odl.shipments;
drop trigger purchase_orders_transition on odl.purchase_orders;
drop trigger bids_transition on odl.bids;
drop trigger rfqs_transition on odl.rfqs;
drop trigger suppliers_transition on odl.suppliers;
drop function odl.stock_moves_apply();
drop function odl.returns_count_returned();
drop function odl.receipts_refuse_change();
drop function odl.receipts_count_received();
drop function odl.purchase_orders_release();
drop function odl.po_lines_count_ordered();
drop function odl.rfq_lines_add_ordered(text, text, numeric);
drop function odl.rfq_lines_award_once();
drop function odl.procurement_check_transition();

drop function odl.prices_visible(text);
drop function odl.procurement_audit_move(text, text, text, text, text, text, jsonb);
drop function odl.procurement_check_lines(jsonb, integer, text);
drop function odl.procurement_require_approved_supplier(text);
drop function odl.procurement_authorize_move(text, text, text, text, text, text[]);
drop function odl.procurement_require_state(text, text, text, text[], text);
drop function odl.procurement_missing(text, text);
drop function odl.procurement_action_for(text, text, text, text[]);
drop function odl.procurement_authorize(text, text, text);

delete from odl.error_codes where sqlstate ~ '^ODQ';

commit;
