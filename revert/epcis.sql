-- Revert odl-db:epcis from pg

begin;

\set data_tables 'odl.epcis_event_ids,odl.epcis_events,odl.epcis_error_declarations'
\ir lib/refuse_data_loss.psql

do $$
declare
    partman_schema text;
    template text;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';
    execute format('select template_table from %I.part_config where parent_table = %L', partman_schema, 'odl.epcis_events')
    into template;
    execute format('delete from %I.part_config where parent_table = %L', partman_schema, 'odl.epcis_events');
    if template is not null then
        execute format('drop table if exists %s', template);
    end if;
end
$$;

drop table odl.epcis_corrective_events;
drop table odl.epcis_error_declarations;
drop table odl.epcis_event_biz_transactions;
drop table odl.epcis_event_epcs;
drop table odl.epcis_events;
drop table odl.epcis_event_ids;
drop table odl.epcis_status_steps;

commit;
