-- Revert odl-db:context from pg

begin;

drop function odl.odl_set_context(text, text);
drop function odl.require_context();
drop function odl.odl_current_user_id();
drop function odl.odl_current_tenant_id();
drop function odl.set_sealed_context(text, text);
drop function odl.context_seal(text, text);
delete from odl.error_codes where sqlstate in ('ODC01', 'ODC02', 'ODC03', 'ODC04');

commit;
