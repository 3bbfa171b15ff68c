-- Deploy odl-db:psu_ledger_v2 to pg
-- requires: monetisation
-- requires: traces_api
-- requires: billing_api
-- requires: retention_api
-- The PSU ledger becomes a monthly pg_partman log like the others (issue
-- 15): partitioned by created_at in UTC months, made ahead, an empty default
-- partition, retired by DETACH and DROP. Its rows are moved in place: a
-- database holding ledger entries keeps every one, with its id and time.
--
-- A partitioned table's unique index must hold the partition key, so
-- (tenant_id, idempotency_key) can no longer be unique on the ledger
-- itself. odl.psu_ledger_keys, unpartitioned, holds one row per keyed entry
-- (charge or reserve) under that primary key, pointing at its entry by
-- (tenant_id, entry_id, created_at): a key names one charge exactly once
-- across every month. A trigger (change psu_ledger_v2_api) writes it with
-- the entry, in the same statement. Tool-call traces, whose cost is a
-- charge, reference the key row (tenant_id, entry_id) instead of the
-- ledger, so nothing refers into a partition that retention could drop.

begin;

lock table odl.psu_ledger in access exclusive mode;

-- The views reading the ledger are dropped and made again over the new
-- table, with their options, owner, grants and comments.
create temporary table psu_ledger_views on commit drop as
select
    c.oid::regclass::text as view_name,
    pg_catalog.pg_get_viewdef(c.oid) as definition,
    c.reloptions,
    c.relacl,
    pg_catalog.obj_description(c.oid, 'pg_class') as description,
    array(
        select array[a.attname::text, pg_catalog.col_description(c.oid, a.attnum)]
        from pg_catalog.pg_attribute as a
        where a.attrelid = c.oid and a.attnum > 0 and pg_catalog.col_description(c.oid, a.attnum) is not null
    ) as column_comments
from pg_catalog.pg_class as c
where c.oid in (
    select r.ev_class
    from pg_catalog.pg_depend as d
    inner join pg_catalog.pg_rewrite as r on d.objid = r.oid
    where d.refobjid = 'odl.psu_ledger'::regclass and r.ev_class <> 'odl.psu_ledger'::regclass
);
do $$
declare
    v record;
begin
    for v in select view_name from psu_ledger_views loop
        execute format('drop view %s', v.view_name);
    end loop;
end
$$;

alter table odl.tool_call_traces drop constraint tool_call_traces_tenant_id_odl_psu_entry_id_fkey;
alter table odl.psu_ledger rename to psu_ledger_v1;
alter index odl.psu_ledger_pkey rename to psu_ledger_v1_pkey;
alter index odl.psu_ledger_idempotency_key rename to psu_ledger_v1_idempotency_key;
alter index odl.psu_ledger_reservation rename to psu_ledger_v1_reservation;

create table odl.psu_ledger (
    tenant_id odl.ulid not null references odl.tenants (tenant_id),
    entry_id odl.ulid not null,
    created_at timestamptz not null default now(),
    kind text not null,
    user_id odl.ulid not null,
    tenant_budget_id odl.ulid not null,
    user_budget_id odl.ulid,
    consumed_delta bigint not null,
    reserved_delta bigint not null,
    reservation_id odl.ulid,
    idempotency_key text,
    tool text,
    project_id odl.ulid,
    tenant_remaining bigint not null,
    user_remaining bigint,
    primary key (tenant_id, entry_id, created_at),
    foreign key (tenant_id, user_id) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, tenant_budget_id) references odl.psu_budgets (tenant_id, budget_id),
    foreign key (tenant_id, user_budget_id) references odl.psu_budgets (tenant_id, budget_id),
    foreign key (tenant_id, reservation_id) references odl.psu_reservations (tenant_id, reservation_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    constraint psu_ledger_kind_valid check (kind in ('charge', 'reserve', 'consume', 'release', 'expire')),
    constraint psu_ledger_keyed check ((kind in ('charge', 'reserve')) = (idempotency_key is not null)),
    constraint psu_ledger_key_length check (length(idempotency_key) between 1 and 200),
    constraint psu_ledger_deltas check (
        case kind
            when 'charge' then consumed_delta > 0 and reserved_delta = 0
            when 'reserve' then consumed_delta = 0 and reserved_delta > 0
            when 'consume' then consumed_delta between 0 and -reserved_delta and reserved_delta < 0
            else consumed_delta = 0 and reserved_delta < 0
        end
    ),
    constraint psu_ledger_reservation check ((kind = 'charge') = (reservation_id is null))
) partition by range (created_at);
create index psu_ledger_idempotency_key on odl.psu_ledger (tenant_id, idempotency_key)
where idempotency_key is not null;
create index psu_ledger_reservation on odl.psu_ledger (tenant_id, reservation_id) where reservation_id is not null;
comment on index odl.psu_ledger_idempotency_key is
'Finds the entry of a key (unique through odl.psu_ledger_keys: a partitioned index cannot be)';
comment on index odl.psu_ledger_reservation is 'The entries of a reservation';

-- The comments of the table, its columns and its constraints carry over.
do $$
declare
    c record;
begin
    execute format(
        'comment on table odl.psu_ledger is %L',
        'Every movement of PSU (append-only), partitioned monthly (UTC) by pg_partman on created_at: '
        'budgets.consumed and .reserved are the sums of its deltas; odl.psu_ledger_keys keeps each key unique'
    );
    for c in
        select a.attname, pg_catalog.col_description(a.attrelid, a.attnum) as description
        from pg_catalog.pg_attribute as a
        where a.attrelid = 'odl.psu_ledger_v1'::regclass and a.attnum > 0
            and pg_catalog.col_description(a.attrelid, a.attnum) is not null
    loop
        execute format('comment on column odl.psu_ledger.%I is %L', c.attname, c.description);
    end loop;
    for c in
        select k.conname, pg_catalog.obj_description(k.oid, 'pg_constraint') as description
        from pg_catalog.pg_constraint as k
        where k.conrelid = 'odl.psu_ledger_v1'::regclass and k.contype = 'c'
            and pg_catalog.obj_description(k.oid, 'pg_constraint') is not null
    loop
        execute format('comment on constraint %I on odl.psu_ledger is %L', c.conname, c.description);
    end loop;
end
$$;
comment on column odl.psu_ledger.created_at is 'When the entry was written: the partition key (UTC months)';

alter table odl.psu_ledger enable row level security;
alter table odl.psu_ledger force row level security;
create policy tenant_isolation on odl.psu_ledger
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
revoke all on odl.psu_ledger from public;

-- Monthly partitions from the oldest entry's month (or the previous month)
-- and four ahead, a default partition, no background worker
-- (odl.psu_ledger_maintenance() runs pg_partman and gives the partitions to
-- odl_owner), no pg_partman retention (odl.log_retention() retires months).
do $$
declare
    partman_schema text;
    partman_version text;
    first_month timestamptz;
begin
    set local timezone = 'UTC';
    select e.extnamespace::regnamespace::text, e.extversion
    into partman_schema, partman_version
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';
    select least(min(l.created_at), now() - interval '1 month') into first_month from odl.psu_ledger_v1 as l;
    execute format(
        'select %I.create_parent(p_parent_table := %L, p_control := %L, p_type := %L, p_interval := %L,'
        ' p_premake := 4, p_start_partition := %L, p_automatic_maintenance := %L)',
        partman_schema, 'odl.psu_ledger', 'created_at',
        case when split_part(partman_version, '.', 1)::int < 5 then 'native' else 'range' end,
        '1 month', date_trunc('month', first_month)::text, 'off'
    );
    execute format(
        'update %I.part_config set infinite_time_partitions = true, retention = null where parent_table = %L',
        partman_schema, 'odl.psu_ledger'
    );
end
$$;

insert into odl.psu_ledger select * from odl.psu_ledger_v1;

create table odl.psu_ledger_keys (
    tenant_id odl.ulid not null,
    idempotency_key text not null,
    entry_id odl.ulid not null,
    created_at timestamptz not null,
    primary key (tenant_id, idempotency_key),
    constraint psu_ledger_keys_one_per_entry unique (tenant_id, entry_id),
    foreign key (tenant_id, entry_id, created_at) references odl.psu_ledger (tenant_id, entry_id, created_at)
);
create index psu_ledger_keys_month on odl.psu_ledger_keys using brin (created_at);
comment on table odl.psu_ledger_keys is
'The idempotency key of every charge and reservation in odl.psu_ledger, unique per tenant across all months '
'(the partitioned ledger cannot hold that unique index); written with the entry, retired with its month';
comment on column odl.psu_ledger_keys.created_at is 'The entry''s created_at: the month the key is retired with';
comment on constraint psu_ledger_keys_one_per_entry on odl.psu_ledger_keys is
'An entry has at most one key; tool-call traces reference their charge here';
comment on index odl.psu_ledger_keys_month is
'The keys of a month, deleted when retention drops it (BRIN: keys are written in created_at order)';
insert into odl.psu_ledger_keys (tenant_id, idempotency_key, entry_id, created_at)
select l.tenant_id, l.idempotency_key, l.entry_id, l.created_at
from odl.psu_ledger as l
where l.idempotency_key is not null;
alter table odl.psu_ledger_keys enable row level security;
alter table odl.psu_ledger_keys force row level security;
create policy tenant_isolation on odl.psu_ledger_keys
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
revoke all on odl.psu_ledger_keys from public;

alter table odl.tool_call_traces add constraint tool_call_traces_tenant_id_odl_psu_entry_id_fkey
foreign key (tenant_id, odl_psu_entry_id) references odl.psu_ledger_keys (tenant_id, entry_id);
-- Deleting a retired month's keys checks that no trace names them: by index.
create index tool_call_traces_psu_entry on odl.tool_call_traces (tenant_id, odl_psu_entry_id)
where odl_psu_entry_id is not null;
comment on index odl.tool_call_traces_psu_entry is
'The trace a PSU charge paid for: the foreign key''s check when retention deletes a month''s keys';

drop table odl.psu_ledger_v1;

do $$
declare
    v record;
    c text[];
begin
    for v in select * from psu_ledger_views order by view_name loop
        execute format(
            'create view %s with (%s) as %s', v.view_name, array_to_string(v.reloptions, ', '),
            rtrim(v.definition, ';')
        );
        execute format('alter view %s owner to odl_owner', v.view_name);
        execute format('revoke all on %s from public', v.view_name);
        execute format('comment on view %s is %L', v.view_name, v.description);
        foreach c slice 1 in array v.column_comments loop
            execute format('comment on column %s.%I is %L', v.view_name, c[1], c[2]);
        end loop;
        execute format(
            'grant select on %s to %s', v.view_name,
            (
                select string_agg(quote_ident(a.grantee::regrole::text), ', ')
                from aclexplode(v.relacl) as a
                where
                    a.privilege_type = 'SELECT' and a.grantee <> 'odl_owner'::regrole and a.grantee <> 0
            )
        );
    end loop;
end
$$;

-- Partitions belong to odl_owner like the parent, with a comment.
do $$
declare
    part regclass;
begin
    for part in
        select i.inhrelid::regclass from pg_catalog.pg_inherits as i
        where i.inhparent = 'odl.psu_ledger'::regclass
    loop
        execute format('alter table %s owner to odl_owner', part);
        execute format(
            'comment on table %s is %L', part,
            'Monthly partition of odl.psu_ledger, made by pg_partman; read and written through the parent'
        );
    end loop;
end
$$;

-- Retention: seven years, the financial records' term (see the README,
-- "Retention of the logs"), and never a month an open invoice, a held
-- reservation or a budget not wholly invoiced still needs.
alter table odl.log_retention_policies drop constraint log_retention_policies_known_table;
alter table odl.log_retention_policies add constraint log_retention_policies_known_table check (
    table_name in ('odl.audit_events', 'odl.epcis_events', 'odl.ai_messages', 'odl.tool_call_traces', 'odl.psu_ledger')
);
comment on constraint log_retention_policies_known_table on odl.log_retention_policies is
'The partitioned logs odl.log_retention() knows how to retire';
alter table odl.log_retention_policies add constraint log_retention_policies_psu_seven_years check (
    table_name <> 'odl.psu_ledger' or keep_months >= 84
);
comment on constraint log_retention_policies_psu_seven_years on odl.log_retention_policies is
'PSU ledger entries are financial records: at least 84 complete months (7 years) are kept (null: all)';
insert into odl.log_retention_policies (table_name, keep_months) values ('odl.psu_ledger', 84);

-- adopt_objects() skips a partitioned table (see deploy/audit.sql).
alter table odl.psu_ledger owner to odl_owner;
call odl.adopt_objects();

commit;
