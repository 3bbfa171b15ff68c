-- Revert odl-db:audit from pg
-- pg_partman goes too, with its schema, unless it manages other tables.

begin;

\set data_tables 'odl.audit_events,odl.audit_heads'
\ir lib/refuse_data_loss.psql

do $$
declare
    partman_schema text;
    template text;
    still_used boolean;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';

    execute format('select template_table from %I.part_config where parent_table = %L', partman_schema, 'odl.audit_events')
    into template;
    execute format('delete from %I.part_config where parent_table = %L', partman_schema, 'odl.audit_events');
    if template is not null then
        execute format('drop table if exists %s', template);
    end if;

    drop table odl.audit_events;
    drop table odl.audit_heads;
    drop table odl.audit_keys;

    execute format('select exists (select from %I.part_config)', partman_schema) into still_used;
    if not still_used then
        drop extension pg_partman;
        -- The schema that deploy made for it, once empty.
        if partman_schema = 'partman' and not exists (
            select from pg_catalog.pg_class as c where c.relnamespace = partman_schema::regnamespace
            union all
            select from pg_catalog.pg_proc as p where p.pronamespace = partman_schema::regnamespace
        ) then
            execute format('drop schema %I', partman_schema);
        end if;
    end if;
end
$$;

commit;
