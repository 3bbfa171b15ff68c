-- Recording tool calls, their retention by whole partitions, and the cost
-- view. A call that cost PSU is charged through psu_take() in the same
-- transaction, with the idempotency key trace:<trace_id>:<span_id>, so a
-- span recorded twice is charged once and its trace points at the charge:
-- the cost view sums the ledger's entries and reconciles with it exactly.
-- Traces are telemetry and not audited one by one; their charges are.

create or replace function odl.odl_record_tool_call(
    trace_id text,
    span_id text,
    tool_name text,
    start_time timestamptz,
    end_time timestamptz,
    psu bigint default 0,
    input_tokens integer default null,
    output_tokens integer default null,
    model text default null,
    provider text default null,
    error_type text default null,
    project_id text default null,
    cache_hit boolean default null,
    tool_call_id text default null
)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    charged odl.psu_result;
begin
    if odl_record_tool_call.trace_id is null or odl_record_tool_call.span_id is null
        or odl_record_tool_call.tool_name is null or odl_record_tool_call.start_time is null
        or odl_record_tool_call.end_time is null or odl_record_tool_call.psu is null then
        raise exception using
            errcode = '22004',
            message = 'trace_id, span_id, tool_name, start_time, end_time and psu must not be null';
    end if;
    if odl_record_tool_call.trace_id !~ '^[0-9a-f]{32}$' or odl_record_tool_call.span_id !~ '^[0-9a-f]{16}$'
        or odl_record_tool_call.end_time < odl_record_tool_call.start_time
        or odl_record_tool_call.start_time not between now() - interval '400 days' and now() + interval '1 day'
        or odl_record_tool_call.psu not between 0 and 100
        or length(odl_record_tool_call.tool_name) not between 1 and 100
        or odl_record_tool_call.input_tokens < 0 or odl_record_tool_call.output_tokens < 0
        or length(odl_record_tool_call.model) > 200 or length(odl_record_tool_call.provider) > 100
        or length(odl_record_tool_call.error_type) > 200 or length(odl_record_tool_call.tool_call_id) > 200 then
        raise exception using
            errcode = '22023',
            message = 'a tool call has W3C trace and span ids, a tool name, a span within the last 400 days, '
            || '0 to 100 PSU and no negative token count',
            detail = format(
                'trace_id %s, span_id %s, start_time %s, end_time %s, psu %s', odl_record_tool_call.trace_id,
                odl_record_tool_call.span_id, odl_record_tool_call.start_time, odl_record_tool_call.end_time,
                odl_record_tool_call.psu
            );
    end if;
    if odl_record_tool_call.psu > 0 then
        charged := odl.psu_take(
            'charge', odl_record_tool_call.psu,
            'trace:' || odl_record_tool_call.trace_id || ':' || odl_record_tool_call.span_id,
            odl_record_tool_call.tool_name, odl_record_tool_call.project_id, null
        );
    elsif odl_record_tool_call.project_id is not null then
        perform odl.odl_check_action(odl_record_tool_call.project_id, 'run_analysis');
    end if;
    insert into odl.tool_call_traces (
        tenant_id, span_id, start_time, end_time, trace_id, user_id, project_id, gen_ai_tool_name,
        gen_ai_tool_call_id, gen_ai_provider_name, gen_ai_request_model, gen_ai_usage_input_tokens,
        gen_ai_usage_output_tokens, error_type, odl_cache_hit, odl_psu_entry_id
    ) values (
        context.tenant_id, odl_record_tool_call.span_id, odl_record_tool_call.start_time,
        odl_record_tool_call.end_time, odl_record_tool_call.trace_id, context.user_id,
        odl_record_tool_call.project_id, odl_record_tool_call.tool_name, odl_record_tool_call.tool_call_id,
        odl_record_tool_call.provider, odl_record_tool_call.model, odl_record_tool_call.input_tokens,
        odl_record_tool_call.output_tokens, odl_record_tool_call.error_type, odl_record_tool_call.cache_hit,
        charged.entry_id
    )
    on conflict on constraint tool_call_traces_pkey do nothing;
    return odl_record_tool_call.span_id;
end
$$;

revoke all on function odl.odl_record_tool_call(
    text, text, text, timestamptz, timestamptz, bigint, integer, integer, text, text, text, text, boolean, text
) from public;
grant execute on function odl.odl_record_tool_call(
    text, text, text, timestamptz, timestamptz, bigint, integer, integer, text, text, text, text, boolean, text
) to odl_app;
comment on function odl.odl_record_tool_call(
    text, text, text, timestamptz, timestamptz, bigint, integer, integer, text, text, text, text, boolean, text
) is
'Records a tool-call span of the acting user (OpenTelemetry GenAI attributes) and charges its PSU once '
'(idempotency key trace:<trace_id>:<span_id>; ODM01 over the budget, nothing recorded); the same span again '
'changes nothing. Returns the span id';

create or replace procedure odl.trace_maintenance(retention interval default null)
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
-- pg_partman bounds new partitions in the session's time zone: UTC months.
set timezone = 'UTC'
as $$
declare
    partman_schema text;
    part regclass;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_extension as e
    where e.extname = 'pg_partman';
    -- Next months' partitions, and retention by pg_partman's part_config
    -- (13 months) or the retention given: whole partitions are dropped.
    execute format('select %I.run_maintenance(p_parent_table := %L)', partman_schema, 'odl.tool_call_traces');
    if trace_maintenance.retention is not null then
        execute format(
            'select %I.drop_partition_time(%L, p_retention := %L, p_keep_table := false)',
            partman_schema, 'odl.tool_call_traces', trace_maintenance.retention
        );
    end if;
    for part in
        select i.inhrelid::regclass
        from pg_inherits as i
        inner join pg_class as c on i.inhrelid = c.oid
        where i.inhparent = 'odl.tool_call_traces'::regclass
            and (c.relowner <> 'odl_owner'::regrole or obj_description(c.oid, 'pg_class') is null)
    loop
        execute format('alter table %s owner to odl_owner', part);
        execute format(
            'comment on table %s is %L', part,
            'Monthly partition of odl.tool_call_traces, made by pg_partman; read and written through the parent'
        );
    end loop;
end
$$;

revoke all on procedure odl.trace_maintenance(interval) from public;
comment on procedure odl.trace_maintenance(interval) is -- noqa: LT01
'Makes the next months'' trace partitions and drops those wholly older than the retention (pg_partman''s '
'part_config: 13 months, or the interval given), never deleting rows; run it daily as a superuser, e.g. from cron';

-- Cost and latency per UTC day, user and tool, for analysts, redacted like
-- odl.analyst_psu_usage. psu comes from the ledger's charges.
create or replace view odl.analyst_tool_costs
with (security_barrier)
as
with reader as (
    select
        c.user_id,
        exists(
            select
            from odl.users as u
            where
                u.tenant_id = c.tenant_id and u.user_id = c.user_id and u.role = 'super_user'
                and u.agent is null and u.mfa_enabled
        ) as is_admin
    from odl.current_context as c
)

select
    t.gen_ai_tool_name as tool,
    (t.start_time at time zone 'UTC')::date as day,
    case when r.is_admin or t.user_id = r.user_id then u.email end as user_email,
    count(*) as calls,
    count(*) filter (where t.error_type is not null) as errors,
    count(*) filter (where t.odl_cache_hit) as cache_hits,
    percentile_cont(0.5) within group (order by extract(epoch from t.end_time - t.start_time) * 1000)
        as latency_p50_ms,
    percentile_cont(0.95) within group (order by extract(epoch from t.end_time - t.start_time) * 1000)
        as latency_p95_ms,
    coalesce(sum(t.gen_ai_usage_input_tokens), 0) as input_tokens,
    coalesce(sum(t.gen_ai_usage_output_tokens), 0) as output_tokens,
    coalesce(sum(l.consumed_delta), 0) as psu
from odl.tool_call_traces as t
cross join reader as r
inner join odl.users as u on t.tenant_id = u.tenant_id and t.user_id = u.user_id
left join odl.psu_ledger as l on t.tenant_id = l.tenant_id and t.odl_psu_entry_id = l.entry_id
group by 1, 2, 3;

revoke all on odl.analyst_tool_costs from public;
grant select on odl.analyst_tool_costs to odl_analyst;
comment on view odl.analyst_tool_costs is
'Tool calls per UTC day, user and tool: calls, errors, cache hits, latency p50 and p95, tokens and PSU (the PSU '
'ledger''s charges of the traces, so they reconcile with it exactly) (odl_analyst). user_email as in '
'odl.analyst_psu_usage';
comment on column odl.analyst_tool_costs.day is 'UTC day of the spans'' start';
comment on column odl.analyst_tool_costs.user_email is 'Whose calls; null unless the reader''s or the administrator';
comment on column odl.analyst_tool_costs.tool is 'gen_ai.tool.name';
comment on column odl.analyst_tool_costs.calls is 'Spans recorded';
comment on column odl.analyst_tool_costs.errors is 'Spans with an error.type';
comment on column odl.analyst_tool_costs.cache_hits is 'Spans answered from the CAG store';
comment on column odl.analyst_tool_costs.latency_p50_ms is 'Median span duration, milliseconds';
comment on column odl.analyst_tool_costs.latency_p95_ms is '95th percentile span duration, milliseconds';
comment on column odl.analyst_tool_costs.input_tokens is 'Sum of gen_ai.usage.input_tokens';
comment on column odl.analyst_tool_costs.output_tokens is 'Sum of gen_ai.usage.output_tokens';
comment on column odl.analyst_tool_costs.psu is 'PSU charged for these calls, from odl.psu_ledger';
