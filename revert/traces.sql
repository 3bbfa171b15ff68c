-- Revert odl-db:traces from pg

begin;

\set data_tables 'odl.tool_call_traces'
\ir lib/refuse_data_loss.psql

-- pg_partman's configuration of the table and its template table go too.
do $$
declare
    partman_schema text;
    template text;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';
    execute format(
        'select template_table from %I.part_config where parent_table = %L', partman_schema, 'odl.tool_call_traces'
    )
    into template;
    execute format('delete from %I.part_config where parent_table = %L', partman_schema, 'odl.tool_call_traces');
    if template is not null then
        execute format('drop table if exists %s', template);
    end if;
end
$$;
drop table odl.tool_call_traces;

commit;
