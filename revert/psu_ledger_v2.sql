-- Revert odl-db:psu_ledger_v2 from pg
-- The ledger goes back to one unpartitioned table with its unique key,
-- every entry moved over (months retention dropped stay dropped); the key
-- table, the partitions and pg_partman's configuration go.

begin;

lock table odl.psu_ledger in access exclusive mode;

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
drop index odl.tool_call_traces_psu_entry;

delete from odl.log_retention_policies where table_name = 'odl.psu_ledger';
alter table odl.log_retention_policies drop constraint log_retention_policies_psu_seven_years;
alter table odl.log_retention_policies drop constraint log_retention_policies_known_table;
alter table odl.log_retention_policies add constraint log_retention_policies_known_table check (
    table_name in ('odl.audit_events', 'odl.epcis_events', 'odl.ai_messages', 'odl.tool_call_traces')
);
comment on constraint log_retention_policies_known_table on odl.log_retention_policies is
'The partitioned logs odl.log_retention() knows how to retire';

alter table odl.psu_ledger rename to psu_ledger_v2;
alter index odl.psu_ledger_pkey rename to psu_ledger_v2_pkey;
alter index odl.psu_ledger_idempotency_key rename to psu_ledger_v2_idempotency_key;
alter index odl.psu_ledger_reservation rename to psu_ledger_v2_reservation;

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
    primary key (tenant_id, entry_id),
    foreign key (tenant_id, user_id) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, tenant_budget_id) references odl.psu_budgets (tenant_id, budget_id),
    foreign key (tenant_id, user_budget_id) references odl.psu_budgets (tenant_id, budget_id),
    foreign key (tenant_id, reservation_id) references odl.psu_reservations (tenant_id, reservation_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id),
    constraint psu_ledger_idempotency_key unique (tenant_id, idempotency_key),
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
);
create index psu_ledger_reservation on odl.psu_ledger (tenant_id, reservation_id) where reservation_id is not null;
do $$
declare
    c record;
begin
    for c in
        select a.attname, pg_catalog.col_description(a.attrelid, a.attnum) as description
        from pg_catalog.pg_attribute as a
        where a.attrelid = 'odl.psu_ledger_v2'::regclass and a.attnum > 0
            and pg_catalog.col_description(a.attrelid, a.attnum) is not null
    loop
        execute format('comment on column odl.psu_ledger.%I is %L', c.attname, c.description);
    end loop;
    for c in
        select k.conname, pg_catalog.obj_description(k.oid, 'pg_constraint') as description
        from pg_catalog.pg_constraint as k
        where k.conrelid = 'odl.psu_ledger_v2'::regclass and k.contype = 'c'
            and pg_catalog.obj_description(k.oid, 'pg_constraint') is not null
    loop
        execute format('comment on constraint %I on odl.psu_ledger is %L', c.conname, c.description);
    end loop;
end
$$;
comment on table odl.psu_ledger is
'Every movement of PSU (append-only): budgets.consumed and .reserved are the sums of its deltas';
comment on column odl.psu_ledger.created_at is null;
comment on constraint psu_ledger_idempotency_key on odl.psu_ledger is 'A key names one charge or reservation';
comment on index odl.psu_ledger_reservation is 'The entries of a reservation';
alter table odl.psu_ledger enable row level security;
alter table odl.psu_ledger force row level security;
create policy tenant_isolation on odl.psu_ledger
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
revoke all on odl.psu_ledger from public;

insert into odl.psu_ledger select * from odl.psu_ledger_v2;

alter table odl.tool_call_traces add constraint tool_call_traces_tenant_id_odl_psu_entry_id_fkey
foreign key (tenant_id, odl_psu_entry_id) references odl.psu_ledger (tenant_id, entry_id);

drop table odl.psu_ledger_keys;
do $$
declare
    partman_schema text;
    template text;
begin
    select e.extnamespace::regnamespace::text into partman_schema
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';
    execute format(
        'select template_table from %I.part_config where parent_table = %L', partman_schema, 'odl.psu_ledger'
    )
    into template;
    execute format('delete from %I.part_config where parent_table = %L', partman_schema, 'odl.psu_ledger');
    if template is not null then
        execute format('drop table if exists %s', template);
    end if;
end
$$;
drop table odl.psu_ledger_v2;

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
                where a.privilege_type = 'SELECT' and a.grantee <> 'odl_owner'::regrole and a.grantee <> 0
            )
        );
    end loop;
end
$$;

alter table odl.psu_ledger owner to odl_owner;
call odl.adopt_objects();

commit;
