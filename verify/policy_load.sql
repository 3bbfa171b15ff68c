-- Verify odl-db:policy_load on pg

select 'odl.load_access_policy(text)'::regprocedure;
select 1 / (count(*) > 0)::int from odl.rbac_role_rights where rights <> '';
