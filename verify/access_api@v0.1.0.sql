-- Verify odl-db:access_api on pg

select 'odl.odl_create_node(text, text, text)'::regprocedure;
select 'odl.odl_attach_project(text, text)'::regprocedure;
select 'odl.odl_assign_role(text, text, text, timestamptz, timestamptz)'::regprocedure;
select 'odl.odl_revoke_role(text, text, text)'::regprocedure;
select 'odl.odl_effective_rights(text, text, text)'::regprocedure;
select 'odl.odl_explain_access(text, text, text)'::regprocedure;
select 'odl.odl_check_action(text, text)'::regprocedure;
select 'odl.authorize_write(text, text [], text)'::regprocedure;
select 'odl.redact(jsonb, text)'::regprocedure;
select 1 / count(*)::int from odl.error_codes where sqlstate = 'ODR01';
select tenant_id, seq, action, payload, hash, classification from odl.audit_trail where false;
