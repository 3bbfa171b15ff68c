-- Deploy odl-db:observability to pg
-- requires: identity
-- What the monitoring keeps that PostgreSQL does not (issue 15): samples of
-- the cumulative timings of the odl_ functions, from which the latency
-- percentiles per sampling interval come, and the record of backups and
-- restore drills. Neither is tenant data. The functions and views live in
-- sql/125_observability (change observability_api).

begin;

create table odl.function_timing_samples (
    function_name text not null,
    sampled_at timestamptz not null,
    source text not null,
    calls bigint not null,
    total_ms double precision not null,
    primary key (function_name, sampled_at),
    constraint function_timing_samples_source_known check (source in ('pg_stat_statements', 'pg_stat_user_functions')),
    constraint function_timing_samples_counts check (calls >= 0 and total_ms >= 0)
);
comment on table odl.function_timing_samples is
'Cumulative calls and time of each odl_ function, sampled by odl_sample_function_timings() (every minute, say); '
'the difference of two samples is one interval''s calls and mean latency';
comment on column odl.function_timing_samples.source is
'pg_stat_statements (top-level statements naming the function) or pg_stat_user_functions (track_functions)';
comment on column odl.function_timing_samples.calls is 'Calls counted by the source since its last reset';
comment on column odl.function_timing_samples.total_ms is 'Milliseconds spent in those calls since the last reset';
comment on constraint function_timing_samples_source_known on odl.function_timing_samples is
'The two sources the sampler reads';
comment on constraint function_timing_samples_counts on odl.function_timing_samples is 'Counters are not negative';

create table odl.backup_runs (
    run_id bigint generated always as identity primary key,
    kind text not null,
    ok boolean not null,
    finished_at timestamptz not null,
    details jsonb not null default '{}',
    recorded_at timestamptz not null default now(),
    constraint backup_runs_kind_known check (kind in ('backup', 'drill')),
    constraint backup_runs_details_object check (jsonb_typeof(details) = 'object')
);
create index backup_runs_latest on odl.backup_runs (kind, finished_at desc);
comment on table odl.backup_runs is
'Backups and restore drills as their jobs reported them (odl_record_backup(); scripts/drill --record)';
comment on column odl.backup_runs.kind is 'backup: a base backup was taken; drill: a point-in-time restore was proven';
comment on column odl.backup_runs.ok is 'Whether it succeeded (a drill: every check passed)';
comment on column odl.backup_runs.details is 'What the job reported, e.g. the drill''s RPO and RTO in seconds';
comment on constraint backup_runs_kind_known on odl.backup_runs is 'A backup or a drill';
comment on constraint backup_runs_details_object on odl.backup_runs is 'Details are a JSON object';
comment on index odl.backup_runs_latest is 'The latest run of each kind';

call odl.adopt_objects();
revoke all on odl.function_timing_samples, odl.backup_runs from public;

commit;
