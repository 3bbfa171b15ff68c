-- Revert odl-db:traces_api from pg

begin;

drop view odl.analyst_tool_costs;
drop procedure odl.trace_maintenance(interval);
drop function odl.odl_record_tool_call(
    text, text, text, timestamptz, timestamptz, bigint, integer, integer, text, text, text, text, boolean, text
);

commit;
