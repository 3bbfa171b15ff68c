-- Verify odl-db:traces on pg

select
    tenant_id, span_id, trace_id, start_time, end_time, gen_ai_operation_name, gen_ai_tool_name,
    gen_ai_usage_input_tokens, gen_ai_usage_output_tokens, gen_ai_request_model, odl_psu_entry_id
from odl.tool_call_traces
where false;
-- Partitioned by start_time, which the primary key holds; RLS forced.
select 1 / count(*)::int
from pg_catalog.pg_partitioned_table as p
inner join pg_catalog.pg_class as c on p.partrelid = c.oid
where p.partrelid = 'odl.tool_call_traces'::regclass and c.relrowsecurity and c.relforcerowsecurity;
select 1 / (count(*) >= 13)::int from pg_catalog.pg_inherits where inhparent = 'odl.tool_call_traces'::regclass;
