-- Deploy odl-db:roles to pg
-- Roles are cluster-wide: they are created only when missing, so several
-- databases (or a DBA who made them beforehand) share them.

begin;

do $$
declare
    spec record;
begin
    for spec in
        select name, login
        from (values
            ('odl_owner', 'nologin'),
            ('odl_app', 'login'),
            ('odl_analyst', 'nologin'),
            ('odl_admin', 'nologin')
        ) as roles (name, login)
    loop
        if not exists (select from pg_catalog.pg_roles where rolname = spec.name) then
            execute format(
                'create role %I %s nosuperuser nocreatedb nocreaterole nobypassrls',
                spec.name, spec.login
            );
        end if;
    end loop;

    -- The deployer hands every object to odl_owner, which needs membership
    -- unless it is a superuser.
    if not pg_catalog.pg_has_role(current_user, 'odl_owner', 'member') then
        execute format('grant odl_owner to %I', current_user);
    end if;
end
$$;

comment on role odl_owner is 'odl-db: owns every odl-db object; never logs in';
comment on role odl_app is 'odl-db: applications log in as this role; executes the odl_ API under RLS';
comment on role odl_analyst is 'odl-db: read-only access to the analyst views';
comment on role odl_admin is 'odl-db: DBA tasks such as creating tenants and users';

commit;
