-- Deploy scripts create objects as whoever runs sqitch (often a superuser,
-- which PL/Python requires). Each script ends by handing its objects to
-- odl_owner, so that no odl-db object is owned by a superuser.
create or replace procedure odl.adopt_objects()
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    ddl text;
begin
    for ddl in
        select format('alter %s %s owner to odl_owner', kind, ident)
        from (
            select
                case c.relkind
                    when 'v' then 'view'
                    when 'm' then 'materialized view'
                    when 'S' then 'sequence'
                    when 'c' then 'type'
                    when 'f' then 'foreign table'
                    else 'table'
                end as kind,
                c.oid::regclass::text as ident,
                c.relowner as owner_oid,
                'pg_class'::regclass as catalog,
                c.oid
            from pg_class as c
            where c.relnamespace = 'odl'::regnamespace
                and c.relkind in ('r', 'p', 'v', 'm', 'S', 'c', 'f')
                and not c.relispartition
            union all
            select
                case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end,
                p.oid::regprocedure::text,
                p.proowner,
                'pg_proc'::regclass,
                p.oid
            from pg_proc as p
            where p.pronamespace = 'odl'::regnamespace
            union all
            select
                case t.typtype when 'd' then 'domain' else 'type' end,
                t.oid::regtype::text,
                t.typowner,
                'pg_type'::regclass,
                t.oid
            from pg_type as t
            where t.typnamespace = 'odl'::regnamespace
                and t.typtype in ('d', 'e', 'r')
        ) as objects
        where owner_oid <> 'odl_owner'::regrole
            -- Extension members belong to their extension, and sequences
            -- owned by a column follow their table.
            and not exists (
                select from pg_depend as d
                where d.classid = objects.catalog
                    and d.objid = objects.oid
                    and d.deptype in ('e', 'a', 'i')
            )
    loop
        execute ddl;
    end loop;
end
$$;

revoke all on procedure odl.adopt_objects() from public;
comment on procedure odl.adopt_objects() is -- noqa: LT01
'Hands every object in schema odl to odl_owner; each deploy script calls it last';
