-- Revert odl-control:roles from pg
-- Everything goes back to the deployer; the roles are dropped unless
-- another database of the cluster still uses them.

begin;

do $$
declare
    t text;
begin
    foreach t in array array['tenants', 'migrations', 'migration_log'] loop
        execute format('drop policy router_reads on odl_control.%I', t);
        execute format('drop policy owner_writes on odl_control.%I', t);
        execute format('alter table odl_control.%I no force row level security', t);
        execute format('alter table odl_control.%I disable row level security', t);
    end loop;
end
$$;

drop function odl_control.advance_migration(bigint, text, jsonb);
drop function odl_control.plan_migration(text, text, text);
drop function odl_control.register_tenant(text, text);
create or replace function odl_control.flip_tenant(migration_id bigint)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl_control, pg_temp
as $$
declare
    m odl_control.migrations;
begin
    select * into m from odl_control.migrations as g where g.migration_id = flip_tenant.migration_id for update;
    update odl_control.tenants as t set region = m.target_region where t.tenant_id = m.tenant_id;
    update odl_control.migrations as g set state = 'flipped' where g.migration_id = flip_tenant.migration_id;
end
$$;
grant execute on function odl_control.flip_tenant(bigint) to public;

reassign owned by odl_control_owner to current_user;
revoke all on schema odl_control from odl_control_router;
revoke all on all tables in schema odl_control from odl_control_router;
revoke all on all functions in schema odl_control from odl_control_router;
grant execute on function odl_control.migration_step(), odl_control.migration_logged(),
odl_control.tenant_map_guard() to public;

do $$
begin
    drop role odl_control_router;
    drop role odl_control_owner;
exception when dependent_objects_still_exist then
    raise notice 'odl_control_owner and odl_control_router stay: another database of the cluster uses them';
end
$$;

commit;
