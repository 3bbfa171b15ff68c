-- Verify odl-control:roles on pg

select 1 / (count(*) = 2)::int from pg_catalog.pg_roles
where rolname in ('odl_control_owner', 'odl_control_router');
select 1 / (nspowner = 'odl_control_owner'::regrole)::int from pg_catalog.pg_namespace where nspname = 'odl_control';
-- Every table owned by the owner; the per-tenant ones under forced RLS.
select 1 / (count(*) = 0)::int from pg_catalog.pg_class
where
    relnamespace = 'odl_control'::regnamespace and relkind in ('r', 'v')
    and relowner <> 'odl_control_owner'::regrole;
select 1 / (count(*) = 3)::int from pg_catalog.pg_class
where
    oid in (
        'odl_control.tenants'::regclass, 'odl_control.migrations'::regclass, 'odl_control.migration_log'::regclass
    )
    and relrowsecurity and relforcerowsecurity;
-- The router reads the map and changes it through the functions only.
select 1 / (
    has_table_privilege('odl_control_router', 'odl_control.tenants', 'select')
    and has_table_privilege('odl_control_router', 'odl_control.regions', 'select')
    and not has_table_privilege('odl_control_router', 'odl_control.tenants', 'insert, update, delete, truncate')
    and not has_table_privilege('odl_control_router', 'odl_control.migrations', 'insert, update, delete, truncate')
    and not has_table_privilege('odl_control_router', 'odl_control.regions', 'insert, update, delete, truncate')
    and has_function_privilege('odl_control_router', 'odl_control.flip_tenant(bigint)', 'execute')
    and has_function_privilege('odl_control_router', 'odl_control.advance_migration(bigint, text, jsonb)', 'execute')
)::int;
