-- Latency of the odl_ functions. Neither pg_stat_statements nor
-- pg_stat_user_functions keeps a distribution: both count calls and add up
-- time. So a job samples those counters (odl_sample_function_timings(),
-- every minute), and the difference of two samples gives one interval's
-- calls and their mean time. The percentiles below are call-weighted
-- percentiles of those interval means: p95 is the mean latency of the
-- interval in which the 95th percentile call fell when calls are ordered
-- by their interval's mean. That is not the p95 of single calls (a slow
-- call among fast ones in one minute is averaged away); it is what
-- counters allow, and the README says so.
--
-- The source: pg_stat_statements when it is loaded (shared_preload_libraries)
-- and created in the database, counting top-level statements that call an
-- odl_ function (the first one each statement names); else
-- pg_stat_user_functions when track_functions is pl or all; else nothing,
-- and odl_health() reports the check as unknown.

create or replace function odl.function_timings_source()
returns text
language sql
stable
security invoker
set search_path = pg_catalog, pg_temp
as $$
    select case
        when to_regclass('pg_stat_statements') is not null
            and 'pg_stat_statements' = any(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
            then 'pg_stat_statements'
        when current_setting('track_functions') in ('pl', 'all') then 'pg_stat_user_functions'
    end
$$;

revoke all on function odl.function_timings_source() from public;
grant execute on function odl.function_timings_source() to odl_admin, odl_analyst;
comment on function odl.function_timings_source() is
'Where odl_sample_function_timings() reads: pg_stat_statements (loaded and created), pg_stat_user_functions '
'(track_functions pl or all), or null when neither counts calls';

-- Writes one sample; the definer half of the sampler, so that the reading
-- half runs as the DBA's login (pg_stat_statements shows the text of other
-- roles' statements only to pg_read_all_stats, which pg_monitor holds).
create or replace function odl.function_timings_record(source text, counters jsonb)
returns integer
language sql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    with inserted as (
        insert into odl.function_timing_samples (function_name, sampled_at, source, calls, total_ms)
        select c.key, now(), function_timings_record.source, (c.value ->> 'calls')::bigint,
            (c.value ->> 'total_ms')::double precision
        from jsonb_each(function_timings_record.counters) as c
        where c.key ~ '^odl_[a-z0-9_]{1,59}$'
        on conflict (function_name, sampled_at) do nothing
        returning 1
    )

    select count(*)::integer from inserted
$$;

revoke all on function odl.function_timings_record(text, jsonb) from public;
grant execute on function odl.function_timings_record(text, jsonb) to odl_admin;
comment on function odl.function_timings_record(text, jsonb) is
'Stores one sample of cumulative counters {function: {calls, total_ms}} from source; for '
'odl_sample_function_timings() (odl_admin)';

create or replace function odl.odl_sample_function_timings()
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    source text := odl.function_timings_source();
    counters jsonb;
begin
    perform pg_stat_clear_snapshot();
    if source = 'pg_stat_statements' then
        execute $q$
            select coalesce(jsonb_object_agg(f.name, jsonb_build_object('calls', f.calls, 'total_ms', f.total_ms)), '{}')
            from (
                select
                    substring(s.query from 'odl\.(odl_[a-z0-9_]+)\s*\(') as name,
                    sum(s.calls) as calls,
                    sum(s.total_exec_time) as total_ms
                from pg_stat_statements as s
                where s.dbid = (select d.oid from pg_database as d where d.datname = current_database())
                    and s.toplevel
                    and s.query ~ 'odl\.odl_[a-z0-9_]+\s*\('
                group by 1
            ) as f
        $q$ into counters;
    elsif source = 'pg_stat_user_functions' then
        select coalesce(jsonb_object_agg(f.name, jsonb_build_object('calls', f.calls, 'total_ms', f.total_ms)), '{}')
        into counters
        from (
            select u.funcname::text as name, sum(u.calls) as calls, sum(u.total_time) as total_ms
            from pg_stat_user_functions as u
            where u.schemaname = 'odl' and u.funcname like 'odl\_%'
            group by u.funcname
        ) as f;
    else
        return 0;
    end if;
    return odl.function_timings_record(source, counters);
end
$$;

revoke all on function odl.odl_sample_function_timings() from public;
grant execute on function odl.odl_sample_function_timings() to odl_admin;
comment on function odl.odl_sample_function_timings() is
'Samples the cumulative calls and time of every odl_ function from odl.function_timings_source() into '
'odl.function_timing_samples; returns the functions sampled (0 without a source). Run it every minute as a DBA''s '
'login with pg_monitor (odl_admin)';

-- Per function over the window: the intervals between consecutive samples
-- (a counter that went down was reset: that interval is skipped), their
-- calls and mean, and the call-weighted p50 and p95 of the interval means.
create or replace function odl.function_latency(time_window interval default '24 hours')
returns table (
    function_name text,
    source text,
    calls bigint,
    mean_ms double precision,
    p50_ms double precision,
    p95_ms double precision,
    intervals bigint,
    first_sample timestamptz,
    last_sample timestamptz
)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    with deltas as (
        select
            s.function_name,
            s.source,
            s.sampled_at,
            s.calls - lag(s.calls) over w as calls,
            s.total_ms - lag(s.total_ms) over w as total_ms,
            lag(s.sampled_at) over w as previous_at,
            lag(s.source) over w as previous_source
        from odl.function_timing_samples as s
        where s.sampled_at >= now() - function_latency.time_window
        window w as (partition by s.function_name order by s.sampled_at)
    ),

    intervals as (
        select
            d.function_name, d.source, d.sampled_at, d.previous_at, d.calls, d.total_ms,
            d.total_ms / d.calls as mean_ms
        from deltas as d
        where d.calls > 0 and d.total_ms >= 0 and d.source = d.previous_source
    ),

    ranked as (
        select
            i.*,
            sum(i.calls) over (partition by i.function_name order by i.mean_ms, i.sampled_at) as running,
            sum(i.calls) over (partition by i.function_name) as total_calls
        from intervals as i
    )

    select
        r.function_name,
        max(r.source),
        sum(r.calls)::bigint,
        sum(r.total_ms) / sum(r.calls),
        min(r.mean_ms) filter (where r.running >= 0.5 * r.total_calls),
        min(r.mean_ms) filter (where r.running >= 0.95 * r.total_calls),
        count(*),
        min(r.previous_at),
        max(r.sampled_at)
    from ranked as r
    group by r.function_name
    order by r.function_name
$$;

revoke all on function odl.function_latency(interval) from public;
grant execute on function odl.function_latency(interval) to odl_admin, odl_analyst;
comment on function odl.function_latency(interval) is
'Per odl_ function over the window: calls, mean, and call-weighted p50 and p95 of the mean latency per sampling '
'interval (not of single calls: the counters keep no distribution), from odl.function_timing_samples '
'(odl_admin, odl_analyst)';
