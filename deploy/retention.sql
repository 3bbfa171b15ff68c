-- Deploy odl-db:retention to pg
-- requires: ledger_v2
-- requires: epcis
-- requires: traces
-- requires: ai_memory
-- Retention of the monthly-partitioned logs (issue 15): how many months of
-- each to keep, and for the audit ledger, what must survive a dropped
-- month. Before a month of audit events goes, each tenant's chain is
-- anchored at the month's end: the seq and hash of its last event up to
-- then, signed with the ledger's key. Verification starts from the latest
-- anchor, so the months kept still verify, and a retired month is not a
-- missing partition. The functions live in sql/120_retention (change
-- retention_api).

begin;

-- Signed anchors: the ledger's, like its digests (odl_ledger owns them,
-- nobody updates or deletes one, and odl_owner reads them only under the
-- tenant policy).
create table odl.audit_anchors (
    tenant_id text not null,
    seq bigint not null,
    hash bytea not null,
    event_time timestamptz not null,
    month_end timestamptz not null,
    key_id integer not null,
    signature bytea not null,
    anchored_at timestamptz not null default now(),
    primary key (tenant_id, seq),
    constraint audit_anchors_seq_positive check (seq >= 1),
    constraint audit_anchors_hash_length check (length(hash) = 32),
    constraint audit_anchors_event_before_month_end check (event_time < month_end)
);
alter table odl.audit_anchors owner to odl_ledger;
alter table odl.audit_anchors enable row level security;
alter table odl.audit_anchors force row level security;
create policy tenant_isolation on odl.audit_anchors to odl_owner, odl_app, odl_admin, odl_analyst
using (tenant_id = (select c.tenant_id from odl.current_context as c));
create policy ledger_owner on odl.audit_anchors to odl_ledger using (true) with check (true);
revoke all on odl.audit_anchors from public;
revoke update, delete, truncate on odl.audit_anchors from odl_ledger;
grant select on odl.audit_anchors to odl_owner;
comment on table odl.audit_anchors is
'Where each tenant''s audit chain stood at the end of a month that retention dropped: the last event''s seq and '
'hash, signed with the audit key; odl_audit_verify() starts from the latest';
comment on column odl.audit_anchors.seq is 'The last event of the chain created before month_end';
comment on column odl.audit_anchors.hash is 'That event''s hash: the prev_hash of the next, retained, event';
comment on column odl.audit_anchors.event_time is 'That event''s created_at';
comment on column odl.audit_anchors.month_end is 'The end of the dropped month (range_end of its partition)';
comment on column odl.audit_anchors.signature is
'HMAC-SHA-256 under key_id of odl-audit-anchor-v1|tenant_id|seq|hash (hex)|event_time (epoch microseconds)';
comment on constraint audit_anchors_seq_positive on odl.audit_anchors is 'An anchor names an event';
comment on constraint audit_anchors_hash_length on odl.audit_anchors is 'A SHA-256 hash';
comment on constraint audit_anchors_event_before_month_end on odl.audit_anchors is
'The anchored event lies in the dropped month or before';
comment on policy tenant_isolation on odl.audit_anchors is 'The context''s tenant only';
comment on policy ledger_owner on odl.audit_anchors is 'The ledger''s functions see every tenant''s anchors';

-- The months of audit events that retention dropped, after anchoring them.
create table odl.audit_retired_partitions (
    partition_name text primary key,
    range_start timestamptz not null,
    range_end timestamptz not null,
    events bigint not null,
    anchors integer not null,
    retired_at timestamptz not null default now(),
    constraint audit_retired_partitions_range_order check (range_start < range_end),
    constraint audit_retired_partitions_counts check (events >= 0 and anchors >= 0)
);
alter table odl.audit_retired_partitions owner to odl_ledger;
revoke all on odl.audit_retired_partitions from public;
revoke update, delete, truncate on odl.audit_retired_partitions from odl_ledger;
grant select on odl.audit_retired_partitions to odl_owner;
comment on table odl.audit_retired_partitions is
'Partitions of odl.audit_events that retention dropped once every chain was anchored at their end; '
'verification does not report them missing';
comment on column odl.audit_retired_partitions.events is 'Events the partition held when it was dropped';
comment on column odl.audit_retired_partitions.anchors is
'Anchors written for it (one per tenant with events up to then)';
comment on constraint audit_retired_partitions_range_order on odl.audit_retired_partitions is 'A range is not empty';
comment on constraint audit_retired_partitions_counts on odl.audit_retired_partitions is 'Counts are not negative';

-- How long each monthly-partitioned log is kept. Not tenant data: one row
-- per log, read by odl.log_retention() and the monitoring.
create table odl.log_retention_policies (
    table_name text primary key,
    keep_months integer,
    constraint log_retention_policies_keep_months_positive check (keep_months >= 1),
    constraint log_retention_policies_known_table check (
        table_name in ('odl.audit_events', 'odl.epcis_events', 'odl.ai_messages', 'odl.tool_call_traces')
    ),
    constraint log_retention_policies_epcis_kept check (table_name <> 'odl.epcis_events' or keep_months is null),
    constraint log_retention_policies_ai_by_session check (table_name <> 'odl.ai_messages' or keep_months is null)
);
comment on table odl.log_retention_policies is
'Months of each monthly-partitioned log that odl.log_retention() keeps (whole UTC months before the current one); '
'null keeps every month';
comment on column odl.log_retention_policies.keep_months is
'Complete months kept before the current month; older partitions are detached and dropped. Null: never dropped';
comment on constraint log_retention_policies_keep_months_positive on odl.log_retention_policies is
'At least one complete month is kept';
comment on constraint log_retention_policies_known_table on odl.log_retention_policies is
'The partitioned logs odl.log_retention() knows how to retire';
comment on constraint log_retention_policies_epcis_kept on odl.log_retention_policies is
'EPCIS events stay: their ids, EPCs and business transactions live in unpartitioned tables that a dropped month '
'would leave pointing at nothing';
comment on constraint log_retention_policies_ai_by_session on odl.log_retention_policies is
'AI messages are retired with their sessions by odl.ai_retention() (setting ai_message_retention), in one place';
insert into odl.log_retention_policies (table_name, keep_months) values
('odl.audit_events', null),
('odl.epcis_events', null),
('odl.ai_messages', null),
('odl.tool_call_traces', 13);

-- Traces were kept 13 months by pg_partman's own retention, which ran in
-- the same job that makes partitions; odl.log_retention() takes it over,
-- on a schedule of its own and under a lock timeout.
do $$
declare
    partman_schema text;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';
    execute format(
        'update %I.part_config set retention = null where parent_table = %L', partman_schema, 'odl.tool_call_traces'
    );
end
$$;

call odl.adopt_objects();
revoke all on odl.log_retention_policies from public;
grant select on odl.log_retention_policies to odl_admin;

commit;
