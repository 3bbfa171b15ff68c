-- Revert odl-db:access_api from pg

begin;

drop view odl.audit_trail;
drop function odl.odl_check_action(text, text);
drop function odl.odl_explain_access(text, text, text);
drop function odl.odl_effective_rights(text, text, text);
drop function odl.odl_revoke_role(text, text, text);
drop function odl.odl_assign_role(text, text, text, timestamptz, timestamptz);
drop function odl.require_assigner(text, text, text);
drop function odl.odl_attach_project(text, text);
drop function odl.odl_create_node(text, text, text);
drop function odl.redact(jsonb, text);
drop function odl.jsonb_without(jsonb, text[]);
drop function odl.require_node(text);
drop function odl.is_tenant_admin();
drop function odl.require_right(text, text, text, text);
drop function odl.authorize_write(text, text[], text);
drop function odl.sections_of(text[]);
drop function odl.patch_pointers(jsonb);
drop function odl.pointer_steps(text);
drop function odl.readable_project(text);
drop function odl.user_rights(text, text);
drop function odl.role_rights(text[]);
drop function odl.user_roles(text, text, timestamptz);
drop function odl.scope_of(text);
delete from odl.error_codes where sqlstate ~ '^OD[RGH]';

commit;
