-- Revert odl-db:context from pg

begin;

drop function odl.odl_clear_context();
drop function odl.odl_set_context(text, text);
drop function odl.require_context();
drop function odl.odl_current_user_id();
drop function odl.odl_current_tenant_id();
drop view odl.current_context;
drop function odl.set_session_context(text, text);
delete from odl.error_codes where sqlstate in ('ODC01', 'ODC02', 'ODC03', 'ODC04');

commit;
