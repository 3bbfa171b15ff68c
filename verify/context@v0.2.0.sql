-- Verify odl-db:context on pg

select 'odl.set_session_context(text, text)'::regprocedure;
select tenant_id, user_id from odl.current_context where false;
select 'odl.odl_current_tenant_id()'::regprocedure;
select 'odl.odl_current_user_id()'::regprocedure;
select 'odl.require_context()'::regprocedure;
select 'odl.odl_set_context(text, text)'::regprocedure;
select 'odl.odl_clear_context()'::regprocedure;
select 1 / (count(*) = 4)::int from odl.error_codes where sqlstate in ('ODC01', 'ODC02', 'ODC03', 'ODC04');
