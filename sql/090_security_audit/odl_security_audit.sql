-- The go-live "RLS on all tenant tables" spot audit, automated. A table is
-- tenant-scoped when it has a tenant_id column; a table that references one
-- without having tenant_id holds tenant data outside RLS. The API that odl_app may
-- use is the functions named odl_*, plus SELECT on tenant-scoped tables
-- whose RLS is enabled and forced. odl is left off the search_path so that
-- object names print schema-qualified.
create or replace function odl.odl_security_audit()
returns table (finding text, object_name text, detail text)
language sql
stable
security invoker
set search_path = pg_catalog, pg_temp
as $$
    with tables as (
        select
            c.oid,
            c.relkind,
            c.relrowsecurity,
            c.relforcerowsecurity,
            a.attnum as tenant_attnum
        from pg_class as c
        left join pg_attribute as a
            on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
        where c.relnamespace = 'odl'::regnamespace
            and c.relkind in ('r', 'p', 'v', 'm', 'f')
    )

    select
        'rls_not_forced',
        t.oid::regclass::text,
        case
            when not t.relrowsecurity then 'row-level security is not enabled'
            else 'row-level security is not forced, so the owner bypasses it'
        end
    from tables as t
    where t.tenant_attnum is not null
        and t.relkind in ('r', 'p')
        and not (t.relrowsecurity and t.relforcerowsecurity)
        and not exists (select from pg_inherits as i where i.inhrelid = t.oid)

    union all

    select
        'fk_without_tenant_id',
        con.conrelid::regclass::text,
        format('foreign key %s to %s does not pair tenant_id with tenant_id', con.conname, con.confrelid::regclass)
    from pg_constraint as con
    inner join tables as src on con.conrelid = src.oid
    inner join tables as dst on con.confrelid = dst.oid
    where con.contype = 'f'
        and src.tenant_attnum is not null
        and dst.tenant_attnum is not null
        and not exists (
            select from unnest(con.conkey, con.confkey) as k (src_attnum, dst_attnum)
            where k.src_attnum = src.tenant_attnum and k.dst_attnum = dst.tenant_attnum
        )

    union all

    select
        'tenant_data_without_tenant_id',
        con.conrelid::regclass::text,
        format('foreign key %s reaches tenant table %s, but the table has no tenant_id', con.conname, con.confrelid::regclass)
    from pg_constraint as con
    inner join tables as src on con.conrelid = src.oid
    inner join tables as dst on con.confrelid = dst.oid
    where con.contype = 'f'
        and src.tenant_attnum is null
        and dst.tenant_attnum is not null

    union all

    select
        'definer_without_search_path',
        p.oid::regprocedure::text,
        coalesce(
            'search_path must list only trusted schemas and end with pg_temp: ' || (
                select cfg from unnest(p.proconfig) as cfg
                where cfg like 'search_path=%'
            ),
            'security definer function does not pin search_path'
        )
    from pg_proc as p
    where p.pronamespace = 'odl'::regnamespace
        and p.prosecdef
        and not exists (
            select from unnest(p.proconfig) as cfg
            where cfg like 'search_path=%'
                and cfg !~ '(^search_path=|, *)("?\$user"?|public)(,|$)'
                -- pg_temp not named last is searched first.
                and cfg ~ ', *"?pg_temp"?$'
        )

    union all

    -- A view that runs with its owner's rights (to redact what the reader
    -- may not see raw) is safe only if RLS binds that owner.
    select
        'view_not_security_invoker',
        t.oid::regclass::text,
        'view runs with the rights of an owner that RLS does not bind'
    from tables as t
    inner join pg_class as c on t.oid = c.oid
    inner join pg_roles as owner on c.relowner = owner.oid
    where t.relkind = 'v'
        and (owner.rolsuper or owner.rolbypassrls or owner.rolname <> 'odl_owner')
        and not exists (
            select from pg_options_to_table(c.reloptions) as o
            where o.option_name = 'security_invoker' and o.option_value in ('true', 'on', '1', 'yes')
        )

    union all

    -- A view that filters rows for its reader (by the context, or by rights
    -- through the functions that decide them) must be a security barrier:
    -- otherwise a cheap function of the reader's in a WHERE clause runs
    -- before the view's filter and sees the rows it removes.
    select
        'view_not_security_barrier',
        t.oid::regclass::text,
        format(
            'view filters rows by %s but is not a security_barrier view',
            string_agg(
                distinct case d.refclassid
                    when 'pg_proc'::regclass then d.refobjid::regproc::text
                    else d.refobjid::regclass::text
                end,
                ', '
            )
        )
    from tables as t
    inner join pg_class as c on t.oid = c.oid
    inner join pg_rewrite as rw on t.oid = rw.ev_class
    inner join pg_depend as d on d.classid = 'pg_rewrite'::regclass and rw.oid = d.objid
    where t.relkind = 'v'
        and (
            d.refclassid = 'pg_class'::regclass and d.refobjid = to_regclass('odl.current_context')
            and d.refobjid <> t.oid
            or d.refclassid = 'pg_proc'::regclass and d.refobjid in (
                select f.oid from pg_proc as f
                where f.pronamespace = 'odl'::regnamespace
                    and f.proname in (
                        'require_context', 'user_roles', 'user_rights', 'role_rights', 'readable_project', 'redact',
                        'reader_scope'
                    )
            )
        )
        and not coalesce(
            (
                select bool_or(o.option_value in ('true', 'on', '1', 'yes'))
                from pg_options_to_table(c.reloptions) as o
                where o.option_name = 'security_barrier'
            ),
            false
        )
    group by t.oid

    union all

    -- odl_owner, which every API function runs as, must not plant code a
    -- superuser runs (the routines of odl, on every deploy) or the server's
    -- Python runs for every caller (the modules).
    select
        'owner_can_plant_code',
        g.evtname::text,
        'the guard against routine DDL by non-superusers is missing or disabled'
    from (values ('odl_routine_ddl_guard'), ('odl_routine_drop_guard')) as g (evtname)
    where not exists (
        select from pg_event_trigger as e where e.evtname = g.evtname and e.evtenabled <> 'D'
    )

    union all

    select
        'owner_can_plant_code',
        'odl.python_modules',
        format('%s may %s the PL/Python modules', r.rolname, lower(a.privilege_type))
    from pg_class as m
    cross join lateral aclexplode(coalesce(m.relacl, acldefault('r', m.relowner))) as a
    inner join pg_roles as r on a.grantee = r.oid
    where m.oid = to_regclass('odl.python_modules')
        and r.rolname in ('odl_owner', 'odl_app', 'odl_admin', 'odl_analyst')
        and a.privilege_type in ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')

    union all

    -- The audit signing key belongs to odl_signer alone: a role that can
    -- read the key, or make the raw signature, can sign forged events.
    select
        'signing_key_exposed',
        'odl.audit_keys',
        coalesce(
            format('signing key held by %s', k.relowner::regrole),
            'the signing keys table odl.audit_keys is missing, so this audit cannot tell who holds the key'
        )
    from (values (to_regclass('odl.audit_keys'))) as want (oid)
    left join pg_class as k on want.oid = k.oid
    where k.relowner is distinct from to_regrole('odl_signer')

    union all

    select
        'signing_key_exposed',
        r.rolname::text,
        'member of odl_signer, so it holds the audit signing key'
    from pg_roles as r
    where r.rolname in ('odl_owner', 'odl_app', 'odl_admin', 'odl_analyst')
        and to_regrole('odl_signer') is not null
        and pg_has_role(r.oid, to_regrole('odl_signer'), 'member')

    union all

    select
        'signing_key_exposed',
        'odl.audit_keys',
        format('%s holds %s on the signing keys', coalesce(r.rolname, 'PUBLIC'), a.privilege_type)
    from pg_class as k
    cross join lateral aclexplode(k.relacl) as a
    left join pg_roles as r on a.grantee = r.oid
    where k.oid = to_regclass('odl.audit_keys')
        and a.grantee is distinct from to_regrole('odl_signer')
        and a.grantee <> k.relowner
        and (a.grantee = 0 or r.rolname in ('odl_owner', 'odl_app', 'odl_admin', 'odl_analyst'))

    union all

    select
        'signing_key_exposed',
        p.oid::regprocedure::text,
        format('%s may execute the raw signing function', r.name)
    from pg_proc as p
    cross join (values ('odl_owner'), ('odl_app'), ('odl_admin'), ('odl_analyst'), ('PUBLIC')) as r (name)
    where p.pronamespace = 'odl'::regnamespace
        and p.proname = 'audit_hmac'
        and case r.name
            when 'PUBLIC' then p.proacl is null or exists (select from aclexplode(p.proacl) as a where a.grantee = 0)
            else has_function_privilege(r.name, p.oid, 'EXECUTE')
        end

    union all

    -- pg_jsonschema's functions take a schema from the caller: only the
    -- roles that validate (odl_app, odl_admin) may run them.
    select
        'validation_function_grant',
        p.oid::regprocedure::text,
        format('%s may execute a validation function', coalesce(r.rolname, 'PUBLIC'))
    from pg_proc as p
    cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) as a
    left join pg_roles as r on a.grantee = r.oid
    where p.pronamespace in ('public'::regnamespace, 'odl'::regnamespace)
        and p.proname in ('json_matches_schema', 'jsonb_matches_schema', 'jsonschema_is_valid', 'jsonschema_validation_errors')
        and a.privilege_type = 'EXECUTE'
        and a.grantee <> p.proowner
        and (a.grantee = 0 or r.rolname not in ('odl_app', 'odl_admin'))

    union all

    select
        'app_privilege_beyond_api',
        t.oid::regclass::text,
        format('odl_app holds %s', priv.name)
    from tables as t
    cross join (
        values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')
    ) as priv (name)
    where (
        case priv.name
            when 'DELETE' then has_table_privilege('odl_app', t.oid, 'DELETE')
            when 'TRUNCATE' then has_table_privilege('odl_app', t.oid, 'TRUNCATE')
            when 'TRIGGER' then has_table_privilege('odl_app', t.oid, 'TRIGGER')
            else has_any_column_privilege('odl_app', t.oid, priv.name)
        end
    )
    and not (
        priv.name = 'SELECT'
        and (
            (t.tenant_attnum is not null and t.relrowsecurity and t.relforcerowsecurity)
            or (t.relkind = 'v' and t.tenant_attnum is not null)
            -- The access policy (policy/access.json) is public by design.
            or (
                t.tenant_attnum is null
                and t.oid::regclass::text ~ '^odl\.(rbac_\w+|classification_levels|hierarchy_levels|project_phases)$'
            )
        )
    )

    union all

    select
        'app_privilege_beyond_api',
        p.oid::regprocedure::text,
        'odl_app may execute a function outside the odl_ API'
    from pg_proc as p
    where p.pronamespace = 'odl'::regnamespace
        and p.proname !~ '^odl_'
        and has_function_privilege('odl_app', p.oid, 'EXECUTE')

    union all

    select
        'app_privilege_beyond_api',
        c.oid::regclass::text,
        'odl_app may use a sequence'
    from pg_class as c
    where c.relnamespace = 'odl'::regnamespace
        -- The case keeps the planner from asking about other relation kinds.
        and case c.relkind when 'S' then has_sequence_privilege('odl_app', c.oid, 'USAGE, UPDATE, SELECT') end

    union all

    select
        'app_privilege_beyond_api',
        n.nspname::text,
        'odl_app may create objects in this schema'
    from pg_namespace as n
    where n.nspname in ('odl', 'public')
        and has_schema_privilege('odl_app', n.oid, 'CREATE')

    union all

    select
        'app_privilege_beyond_api',
        r.rolname::text,
        'odl_app is a superuser, bypasses RLS, creates roles or databases, or is a member of it'
    from pg_roles as r
    where r.rolname = 'odl_app'
        and (r.rolsuper or r.rolbypassrls or r.rolcreaterole or r.rolcreatedb)
    union all
    select
        'app_privilege_beyond_api',
        r.rolname::text,
        'odl_app is a member of this role'
    from pg_roles as r
    where r.rolname in ('odl_owner', 'odl_admin', 'odl_analyst')
        and pg_has_role('odl_app', r.oid, 'member')

    order by 1, 2, 3
$$;

revoke all on function odl.odl_security_audit() from public;
grant execute on function odl.odl_security_audit() to odl_admin;
comment on function odl.odl_security_audit() is
'Catalog audit, one row per finding: tenant tables without forced RLS, foreign keys that omit tenant_id, '
'tables that reference tenant data without tenant_id, '
'security definer functions without a safe search_path, views that are not security_invoker, filtering views '
'that are not security_barrier, a signing key that anyone but odl_signer holds, validation functions that roles '
'other than odl_app and odl_admin may execute, code odl_owner could plant (routine DDL unguarded, the PL/Python '
'modules writable), and privileges of odl_app beyond the odl_ API. An empty result '
'is a clean audit';
