-- Revert odl-db:roles from pg
-- A role still used by another database cannot be dropped; it is kept and
-- reported instead of failing the revert.

begin;

do $$
declare
    role_name text;
begin
    foreach role_name in array array['odl_app', 'odl_analyst', 'odl_admin', 'odl_owner'] loop
        begin
            execute format('drop role if exists %I', role_name);
        exception when dependent_objects_still_exist then
            raise notice 'role % is still used elsewhere and was kept', role_name;
        end;
    end loop;
end
$$;

commit;
