-- Revert odl-db:ai_memory from pg
-- pg_partman stays: the audit ledger's change owns it.

begin;

\set data_tables 'odl.ai_sessions,odl.ai_messages,odl.cag_entries,odl.cag_dependencies'
\ir lib/refuse_data_loss.psql

do $$
declare
    partman_schema text;
    template text;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';

    execute format('select template_table from %I.part_config where parent_table = %L', partman_schema, 'odl.ai_messages')
    into template;
    execute format('delete from %I.part_config where parent_table = %L', partman_schema, 'odl.ai_messages');
    if template is not null then
        execute format('drop table if exists %s', template);
    end if;
end
$$;

drop table odl.cag_dependencies;
drop table odl.cag_entries;
drop table odl.ai_messages;
drop table odl.ai_sessions;
drop type odl.ai_context_message;

commit;
