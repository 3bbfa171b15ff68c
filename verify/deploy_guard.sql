-- Verify odl-db:deploy_guard on pg

select 'odl_guard.refuse_routine_ddl()'::regprocedure;
select 1 / (count(*) = 2)::int from pg_catalog.pg_event_trigger
where evtname in ('odl_routine_ddl_guard', 'odl_routine_drop_guard') and evtenabled <> 'D';
select 1 / (c.relowner <> 'odl_owner'::regrole)::int
from pg_catalog.pg_class as c where c.oid = 'odl.python_modules'::regclass;
