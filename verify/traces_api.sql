-- Verify odl-db:traces_api on pg

select 'odl.odl_record_tool_call(text, text, text, timestamptz, timestamptz, bigint, integer, integer, text, text,
text, text, boolean, text)'::regprocedure;
select 'odl.trace_maintenance(interval)'::regprocedure;
select day, user_email, tool, calls, latency_p50_ms, latency_p95_ms, input_tokens, output_tokens, psu
from odl.analyst_tool_costs where false;
select 1 / count(*)::int
from pg_catalog.pg_class as c
where
    c.oid = 'odl.analyst_tool_costs'::regclass and 'security_barrier=true' = any(c.reloptions)
    and pg_catalog.has_table_privilege('odl_analyst', c.oid, 'SELECT');
