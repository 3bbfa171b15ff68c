-- Revert odl-db:retention from pg
-- The anchors are ledger data: once a month was retired they are all that
-- vouches for the chains' start, so they go only with the ledger
-- (--set drop_data=yes --set drop_ledger=yes).

begin;

\set data_tables 'odl.audit_anchors,odl.audit_retired_partitions'
\ir lib/refuse_data_loss.psql

do $$
declare
    partman_schema text;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';
    execute format(
        'update %I.part_config set retention = %L where parent_table = %L',
        partman_schema, '13 months', 'odl.tool_call_traces'
    );
end
$$;

drop table odl.log_retention_policies;
drop table odl.audit_retired_partitions;
drop table odl.audit_anchors;

commit;
