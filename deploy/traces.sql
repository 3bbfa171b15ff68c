-- Deploy odl-db:traces to pg
-- requires: monetisation
-- Tool-call traces: one row per span of a tool call, named after the
-- OpenTelemetry GenAI semantic conventions (gen_ai.* attributes, dots as
-- underscores), partitioned monthly by pg_partman with the partition key in
-- the primary key. Retention drops whole partitions (never DELETE), so old
-- months leave no dead tuples. The cost a trace carries is its PSU charge,
-- an entry of odl.psu_ledger. Functions and views: sql/110_traces (change
-- traces_api).

begin;

create table odl.tool_call_traces (
    tenant_id odl.ulid not null,
    span_id text not null,
    start_time timestamptz not null,
    end_time timestamptz not null,
    trace_id text not null,
    user_id odl.ulid not null,
    project_id odl.ulid,
    gen_ai_operation_name text not null default 'execute_tool',
    gen_ai_tool_name text not null,
    gen_ai_tool_call_id text,
    gen_ai_provider_name text,
    gen_ai_request_model text,
    gen_ai_usage_input_tokens integer,
    gen_ai_usage_output_tokens integer,
    error_type text,
    odl_cache_hit boolean,
    odl_psu_entry_id odl.ulid,
    primary key (tenant_id, span_id, start_time),
    foreign key (tenant_id, user_id) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    foreign key (tenant_id, odl_psu_entry_id) references odl.psu_ledger (tenant_id, entry_id),
    constraint tool_call_traces_ids check (span_id ~ '^[0-9a-f]{16}$' and trace_id ~ '^[0-9a-f]{32}$'),
    constraint tool_call_traces_timing check (end_time >= start_time),
    constraint tool_call_traces_tokens check (gen_ai_usage_input_tokens >= 0 and gen_ai_usage_output_tokens >= 0),
    constraint tool_call_traces_names check (
        length(gen_ai_tool_name) between 1 and 100 and length(gen_ai_operation_name) between 1 and 100
        and length(gen_ai_tool_call_id) <= 200 and length(gen_ai_provider_name) <= 100
        and length(gen_ai_request_model) <= 200 and length(error_type) <= 200
    )
) partition by range (start_time);
create index tool_call_traces_tool_day on odl.tool_call_traces (tenant_id, gen_ai_tool_name, start_time);
comment on table odl.tool_call_traces is
'One row per tool-call span (OpenTelemetry GenAI conventions: gen_ai.* as gen_ai_*), partitioned monthly by '
'pg_partman; retention drops whole months. Its cost is the PSU charge odl_psu_entry_id';
comment on column odl.tool_call_traces.span_id is 'OpenTelemetry span id: 16 lower-case hex digits';
comment on column odl.tool_call_traces.trace_id is 'OpenTelemetry trace id: 32 lower-case hex digits';
comment on column odl.tool_call_traces.start_time is 'The span''s start: the partition key';
comment on column odl.tool_call_traces.end_time is 'The span''s end; latency = end_time - start_time';
comment on column odl.tool_call_traces.gen_ai_operation_name is 'gen_ai.operation.name: execute_tool';
comment on column odl.tool_call_traces.gen_ai_tool_name is 'gen_ai.tool.name';
comment on column odl.tool_call_traces.gen_ai_tool_call_id is 'gen_ai.tool.call.id';
comment on column odl.tool_call_traces.gen_ai_provider_name is 'gen_ai.provider.name';
comment on column odl.tool_call_traces.gen_ai_request_model is 'gen_ai.request.model';
comment on column odl.tool_call_traces.gen_ai_usage_input_tokens is 'gen_ai.usage.input_tokens';
comment on column odl.tool_call_traces.gen_ai_usage_output_tokens is 'gen_ai.usage.output_tokens';
comment on column odl.tool_call_traces.error_type is 'error.type; null when the call succeeded';
comment on column odl.tool_call_traces.odl_cache_hit is 'Whether the answer came from the CAG store';
comment on column odl.tool_call_traces.odl_psu_entry_id is 'The PSU ledger''s charge for this call; null: free';
comment on constraint tool_call_traces_ids on odl.tool_call_traces is 'W3C trace context ids';
comment on constraint tool_call_traces_timing on odl.tool_call_traces is 'A span ends after it starts';
comment on constraint tool_call_traces_tokens on odl.tool_call_traces is 'Token counts are not negative';
comment on constraint tool_call_traces_names on odl.tool_call_traces is 'Bounded attribute lengths';
comment on index odl.tool_call_traces_tool_day is 'Cost and latency per tool and day';

alter table odl.tool_call_traces enable row level security;
alter table odl.tool_call_traces force row level security;
create policy tenant_isolation on odl.tool_call_traces
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
revoke all on odl.tool_call_traces from public;

-- Thirteen months back and four ahead, a default partition, no background
-- worker (odl.trace_maintenance() runs it and gives the partitions to
-- odl_owner), and pg_partman's retention: a month goes once all of it is
-- older than 13 months.
do $$
declare
    partman_schema text;
    partman_version text;
begin
    select e.extnamespace::regnamespace::text, e.extversion
    into partman_schema, partman_version
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';
    execute format(
        'select %I.create_parent(p_parent_table := %L, p_control := %L, p_type := %L, p_interval := %L,'
        ' p_premake := 4, p_start_partition := %L, p_automatic_maintenance := %L)',
        partman_schema, 'odl.tool_call_traces', 'start_time',
        case when split_part(partman_version, '.', 1)::int < 5 then 'native' else 'range' end,
        '1 month', (date_trunc('month', now()) - interval '12 months')::text, 'off'
    );
    execute format(
        'update %I.part_config set infinite_time_partitions = true, retention = %L, retention_keep_table = false,'
        ' retention_keep_index = false where parent_table = %L',
        partman_schema, '13 months', 'odl.tool_call_traces'
    );
end
$$;
-- The partitions pg_partman made belong to the deployer: give them to
-- odl_owner like the table, with a comment (no grants, no policies: only the owner, and
-- the parent's RLS, reach them).
do $$
declare
    part regclass;
begin
    for part in
        select i.inhrelid::regclass from pg_catalog.pg_inherits as i
        where i.inhparent = 'odl.tool_call_traces'::regclass
    loop
        execute format('alter table %s owner to odl_owner', part);
        execute format(
            'comment on table %s is %L', part,
            'Monthly partition of odl.tool_call_traces, made by pg_partman; read and written through the parent'
        );
    end loop;
end
$$;

-- adopt_objects() skips a partitioned table (see deploy/audit.sql).
alter table odl.tool_call_traces owner to odl_owner;
call odl.adopt_objects();

commit;
