-- Verify odl-db:identity_api on pg

select 'odl.odl_issue_context_token(text, text, integer)'::regprocedure;
select 'odl.odl_bind_login(text, text)'::regprocedure;
select 'odl.odl_unbind_login(text)'::regprocedure;
select 'odl.odl_login_bindings()'::regprocedure;
select 'odl.odl_my_binding()'::regprocedure;
select 1 / (count(distinct purpose) = 2)::int from odl.identity_keys;
