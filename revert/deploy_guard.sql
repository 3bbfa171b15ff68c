-- Revert odl-db:deploy_guard from pg

begin;

alter table odl.python_modules owner to odl_owner;
do $$
begin
    execute 'drop event trigger odl_routine_drop_guard';
    execute 'drop event trigger odl_routine_ddl_guard';
end
$$;
drop function odl_guard.refuse_routine_ddl();
drop schema odl_guard;

commit;
