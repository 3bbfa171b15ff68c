-- Revert odl-db:monetisation_api from pg

begin;

drop view odl.analyst_escrows;
drop view odl.analyst_psu_budgets;
drop view odl.analyst_psu_usage;
drop function odl.odl_resolve_dispute(text, text);
drop function odl.odl_open_dispute(text, text, bigint);
drop function odl.odl_open_escrow(text, jsonb);
drop function odl.odl_escrow_apply_event(bigint);
drop function odl.odl_governance_event(text, text, jsonb);
drop function odl.escrow_apply(bigint);
drop function odl.odl_create_order(text, text, text, bigint, bigint);
drop function odl.odl_fee_shares(text, bigint);
drop function odl.odl_subscribe(text, integer, text, timestamptz);
drop function odl.odl_psu_grant(bigint, text, timestamptz, timestamptz);
drop function odl.psu_renew(text);
drop function odl.require_tenant_admin(text);
drop function odl.odl_psu_balance();
drop function odl.odl_psu_expire();
drop function odl.odl_psu_settle(text, bigint);
drop function odl.odl_psu_reserve(bigint, text, interval, text, text);
drop function odl.odl_psu_charge(bigint, text, text, text);
drop function odl.psu_take(text, bigint, text, text, text, interval);
drop function odl.psu_soft_limits(odl.psu_budgets, bigint);
drop function odl.psu_lock_budget(text, text);
drop function odl.psu_expire_held(text);
delete from odl.error_codes where sqlstate like 'ODM%';

commit;
