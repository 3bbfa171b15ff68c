-- Revert odl-db:identity_api from pg

begin;

drop function odl.odl_issue_context_token(text, text, integer);
drop function odl.odl_bind_login(text, text);
drop function odl.odl_unbind_login(text);
drop function odl.odl_login_bindings();
drop function odl.odl_my_binding();
drop function odl.odl_find_user(text, text);
drop function odl.identity_mac(text, text, integer);
drop function odl.make_identity_key(text);
delete from odl.identity_keys;
delete from odl.error_codes where sqlstate in ('ODC05', 'ODC06', 'ODC07', 'ODC08', 'ODC09');

commit;
