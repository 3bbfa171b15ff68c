-- pg_partman makes the monthly partitions of odl.epcis_events as whoever
-- runs it (a superuser). Rows reach them through the parent, whose RLS
-- and privileges apply; this gives each partition to odl_owner, takes every
-- direct privilege away and comments it, as the catalog rules require.

create or replace procedure odl.epcis_maintenance()
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
-- pg_partman bounds new partitions in the session's time zone: UTC months.
set timezone = 'UTC'
as $$
declare
    partman_schema text;
    part record;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';
    execute format('select %I.run_maintenance(p_parent_table := %L)', partman_schema, 'odl.epcis_events');
    for part in
        select c.oid, c.oid::regclass::text as name, c.relowner
        from pg_catalog.pg_inherits as i
        inner join pg_catalog.pg_class as c on i.inhrelid = c.oid
        where i.inhparent = 'odl.epcis_events'::regclass
    loop
        -- Each step only when needed: they take locks that stall writers.
        if part.relowner <> 'odl_owner'::regrole then
            execute format('alter table %s owner to odl_owner', part.name);
            execute format('revoke all on %s from public, odl_app, odl_admin, odl_analyst', part.name);
        end if;
        if obj_description(part.oid, 'pg_class') is null then
            execute format(
                'comment on table %s is %L', part.name,
                'Monthly partition of odl.epcis_events, made by pg_partman; read and written only through the parent'
            );
        end if;
    end loop;
end
$$;

revoke all on procedure odl.epcis_maintenance() from public;
comment on procedure odl.epcis_maintenance() is -- noqa: LT01
'Makes the next months'' partitions of odl.epcis_events (pg_partman), gives them to odl_owner and comments them; '
'run it daily as a superuser, e.g. from cron, next to odl.audit_maintenance()';

call odl.epcis_maintenance();
