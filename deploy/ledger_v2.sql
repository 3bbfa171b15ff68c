-- Deploy odl-db:ledger_v2 to pg
-- requires: audit_api@v0.1.0
-- The audit ledger leaves odl_owner's hands (issue 10): odl_owner runs every
-- definer function of the document API, so a ledger it owned was a ledger
-- that any bug or attacker in that code could rewrite, and it read the key
-- that signs. Now:
--
--   odl_signer   owns odl.audit_keys and the functions that sign with them;
--                nobody is a member, nobody holds a privilege on the keys
--   odl_ledger   owns the events, their partitions, the heads, the record of
--                partitions and of issued digests, and the append, digest
--                and verify functions (sql/050_audit); nobody is a member
--
-- Both roles never log in. odl_owner keeps SELECT on events and heads and
-- EXECUTE on the append path; it can no longer insert, update or delete any
-- row of the ledger, read a key, or become either role. Objects of schema
-- odl that odl_owner may drop as the schema's owner are guarded by an event
-- trigger that refuses to drop any part of the ledger to anyone but a
-- superuser. The functions themselves are reworked in change audit_api.
--
-- The deployer: a superuser needs nothing more. A non-superuser (it cannot
-- install PL/Python anyway) would need CREATEROLE, membership of odl_ledger
-- and odl_signer (granted below, as roles.sql grants odl_owner) and could
-- not create the event trigger, which needs a superuser.

begin;

do $$
declare
    spec record;
begin
    for spec in select name from (values ('odl_signer'), ('odl_ledger')) as roles (name) loop
        if not exists (select from pg_catalog.pg_roles where rolname = spec.name) then
            execute format(
                'create role %I nologin noinherit nosuperuser nocreatedb nocreaterole nobypassrls', spec.name
            );
        end if;
        if not pg_catalog.pg_has_role(current_user, spec.name, 'member') then
            execute format('grant %I to %I', spec.name, current_user);
        end if;
    end loop;
end
$$;

comment on role odl_signer is
'odl-db: owns the audit signing keys (odl.audit_keys) and the functions that sign; nobody is a member';
comment on role odl_ledger is
'odl-db: owns the audit ledger (events, heads, partitions, issued digests) and its append, digest and verify '
'functions; nobody is a member';

grant usage on schema odl to odl_signer, odl_ledger;

-- Keys.
alter table odl.audit_keys owner to odl_signer;
revoke all on odl.audit_keys from public, odl_owner, odl_app, odl_admin, odl_analyst;
-- Keys are made and retired, never changed or deleted, by their owner too.
revoke update, delete, truncate on odl.audit_keys from odl_signer;
grant update (retired_at) on odl.audit_keys to odl_signer;

-- Events, their partitions and heads.
alter table odl.audit_events owner to odl_ledger;
alter table odl.audit_heads owner to odl_ledger;
do $$
declare
    part record;
begin
    for part in
        select i.inhrelid::regclass::text as name
        from pg_catalog.pg_inherits as i
        where i.inhparent = 'odl.audit_events'::regclass
    loop
        execute format('alter table %s owner to odl_ledger', part.name);
        execute format('revoke all on %s from public, odl_owner', part.name);
        execute format('revoke update, delete, truncate on %s from odl_ledger', part.name);
    end loop;
end
$$;
revoke all on odl.audit_events, odl.audit_heads from public, odl_owner, odl_app, odl_admin, odl_analyst;
-- Events are never changed, heads never removed, by their owner either.
revoke update, delete, truncate on odl.audit_events from odl_ledger;
revoke delete, truncate on odl.audit_heads from odl_ledger;
grant select on odl.audit_events to odl_owner, odl_analyst;
grant select on odl.audit_heads to odl_owner;

-- RLS stays forced, but the tenant policies bind the roles that read, and
-- the ledger's own functions see every tenant through a policy of their
-- own: a policy's expression runs as the querying role, and that of
-- tenant_isolation reads odl.current_context, which odl_owner may redefine.
alter policy tenant_isolation on odl.audit_events to odl_owner, odl_app, odl_admin, odl_analyst;
alter policy tenant_isolation on odl.audit_heads to odl_owner, odl_app, odl_admin, odl_analyst;
create policy ledger_owner on odl.audit_events to odl_ledger using (true) with check (true);
create policy ledger_owner on odl.audit_heads to odl_ledger using (true) with check (true);
comment on policy ledger_owner on odl.audit_events is
'The ledger''s functions (odl_ledger) see and append events of every tenant; they name the tenant themselves';
comment on policy ledger_owner on odl.audit_heads is
'The ledger''s functions (odl_ledger) see and move the head of every tenant';

-- Every partition ever attached, so that verification sees one dropped.
create table odl.audit_partitions (
    partition_name text primary key,
    range_start timestamptz,
    range_end timestamptz,
    registered_at timestamptz not null default now(),
    constraint audit_partitions_range_order check (range_start < range_end),
    constraint audit_partitions_range_or_default check ((range_start is null) = (range_end is null))
);
alter table odl.audit_partitions owner to odl_ledger;
revoke all on odl.audit_partitions from public;
grant select on odl.audit_partitions to odl_owner;
comment on table odl.audit_partitions is
'Every partition of odl.audit_events ever made (audit_protect_partitions() records them); '
'odl_audit_verify() fails while one of them is gone';
comment on column odl.audit_partitions.partition_name is 'The partition, schema-qualified';
comment on column odl.audit_partitions.range_start is 'First created_at it holds; null for the default partition';
comment on column odl.audit_partitions.range_end is
'First created_at it no longer holds; null for the default partition';
comment on constraint audit_partitions_range_order on odl.audit_partitions is 'A range is not empty';
comment on constraint audit_partitions_range_or_default on odl.audit_partitions is
'A range partition has both bounds, the default partition neither';

-- Digests the ledger issued for export, so that verification checks the
-- chain against the latest of them even when no digest is handed in.
create table odl.audit_digests (
    tenant_id text not null,
    seq bigint not null,
    digest jsonb not null,
    issued_at timestamptz not null default now(),
    primary key (tenant_id, seq, issued_at),
    constraint audit_digests_seq_not_negative check (seq >= 0),
    constraint audit_digests_digest_is_object check (jsonb_typeof(digest) = 'object')
);
alter table odl.audit_digests owner to odl_ledger;
alter table odl.audit_digests enable row level security;
alter table odl.audit_digests force row level security;
create policy tenant_isolation on odl.audit_digests to odl_owner, odl_app, odl_admin, odl_analyst
using (tenant_id = (select c.tenant_id from odl.current_context as c));
create policy ledger_owner on odl.audit_digests to odl_ledger using (true) with check (true);
revoke all on odl.audit_digests from public;
grant select on odl.audit_digests to odl_owner;
comment on table odl.audit_digests is
'Signed digests of chain heads issued by odl_audit_export_digests() for a sink outside the database; '
'odl_audit_verify() checks the chain against the latest one';
comment on column odl.audit_digests.digest is 'The digest as issued: {tenant_id, seq, hash, time, key_id, signature}';
comment on column odl.audit_digests.issued_at is 'When the exporter asked for it';
comment on constraint audit_digests_seq_not_negative on odl.audit_digests is 'seq 0 is the empty chain';
comment on constraint audit_digests_digest_is_object on odl.audit_digests is 'A digest is a JSON object';
comment on policy tenant_isolation on odl.audit_digests is 'The context''s tenant only';
comment on policy ledger_owner on odl.audit_digests is 'The ledger''s functions see every tenant''s digests';

-- The guard. odl_owner owns schema odl, and a schema's owner may drop any
-- object in it; dropping a partition, a head table or a ledger function
-- (to put its own in place) would erase or subvert the ledger. The guard
-- lives in a schema of odl_ledger, out of odl_owner's reach, and refuses
-- such drops, and changes to a domain the ledger's columns use (whose
-- checks run as odl_ledger), to everyone but superusers.
create schema odl_ledger authorization odl_ledger;
revoke all on schema odl_ledger from public;
comment on schema odl_ledger is 'odl-db: the audit ledger''s guard against DDL by odl_owner; owned by odl_ledger';

create function odl_ledger.refuse_ledger_ddl()
returns event_trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    hit text;
begin
    if (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user) then
        return;
    end if;
    if tg_event = 'sql_drop' then
        select d.object_identity into hit
        from pg_catalog.pg_event_trigger_dropped_objects() as d
        where d.object_identity ~ '(^|[ .])odl\.(audit_|odl_audit_)|^odl_ledger(\.|$)'
        limit 1;
    else
        select c.object_identity into hit
        from pg_catalog.pg_event_trigger_ddl_commands() as c
        where c.object_type in ('domain', 'type')
            and exists (
                select from pg_catalog.pg_attribute as a
                inner join pg_catalog.pg_class as t on a.attrelid = t.oid
                where a.atttypid = c.objid
                    and t.relnamespace = 'odl'::regnamespace
                    and t.relname ~ '^audit_'
                    and a.attnum > 0
            )
        limit 1;
    end if;
    if hit is not null then
        raise exception using
            errcode = '42501',
            message = 'the audit ledger may be changed only by a superuser',
            detail = format('%s of %s refused for role %s', tg_tag, hit, current_user),
            hint = 'Drop or change ledger objects through sqitch revert, as a superuser.';
    end if;
end
$$;
alter function odl_ledger.refuse_ledger_ddl() owner to odl_ledger;
revoke all on function odl_ledger.refuse_ledger_ddl() from public;
comment on function odl_ledger.refuse_ledger_ddl() is
'Event trigger: refuses, to anyone but a superuser, dropping any part of the audit ledger or changing a domain '
'its columns use';

-- (Event triggers through execute: sqlfluff cannot parse their DDL.)
do $$
begin
    execute 'create event trigger audit_ledger_drop_guard on sql_drop'
        ' execute function odl_ledger.refuse_ledger_ddl()';
    execute 'create event trigger audit_ledger_domain_guard on ddl_command_end when tag in (''ALTER DOMAIN'')'
        ' execute function odl_ledger.refuse_ledger_ddl()';
    execute format(
        'comment on event trigger audit_ledger_drop_guard is %L',
        'odl-db: only a superuser may drop the audit ledger''s tables, partitions, functions or policies'
    );
    execute format(
        'comment on event trigger audit_ledger_domain_guard is %L',
        'odl-db: only a superuser may change a domain the audit ledger''s columns use'
    );
end
$$;

-- adopt_objects() hands every object of schema odl to odl_owner; from now
-- on it leaves those of odl_ledger and odl_signer where they are. The body
-- of change ownership (sql/000_ownership/adopt_objects.sql) comes back on
-- revert.
create or replace procedure odl.adopt_objects()
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    ddl text;
begin
    for ddl in
        select format('alter %s %s owner to odl_owner', kind, ident)
        from (
            select
                case c.relkind
                    when 'v' then 'view'
                    when 'm' then 'materialized view'
                    when 'S' then 'sequence'
                    when 'c' then 'type'
                    when 'f' then 'foreign table'
                    else 'table'
                end as kind,
                c.oid::regclass::text as ident,
                c.relowner as owner_oid,
                'pg_class'::regclass as catalog,
                c.oid
            from pg_class as c
            where c.relnamespace = 'odl'::regnamespace
                and c.relkind in ('r', 'p', 'v', 'm', 'S', 'c', 'f')
                and not c.relispartition
            union all
            select
                case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end,
                p.oid::regprocedure::text,
                p.proowner,
                'pg_proc'::regclass,
                p.oid
            from pg_proc as p
            where p.pronamespace = 'odl'::regnamespace
            union all
            select
                case t.typtype when 'd' then 'domain' else 'type' end,
                t.oid::regtype::text,
                t.typowner,
                'pg_type'::regclass,
                t.oid
            from pg_type as t
            where t.typnamespace = 'odl'::regnamespace
                and t.typtype in ('d', 'e', 'r')
        ) as objects
        where owner_oid <> 'odl_owner'::regrole
            -- The audit ledger belongs to odl_ledger and odl_signer.
            and owner_oid not in (
                select r.oid from pg_roles as r where r.rolname in ('odl_ledger', 'odl_signer')
            )
            -- The PL/Python modules run as whoever calls them: the deployer
            -- keeps them (change deploy_guard).
            and not (catalog = 'pg_class'::regclass and objects.oid = 'odl.python_modules'::regclass)
            -- Extension members belong to their extension, and sequences
            -- owned by a column follow their table.
            and not exists (
                select from pg_depend as d
                where d.classid = objects.catalog
                    and d.objid = objects.oid
                    and d.deptype in ('e', 'a', 'i')
            )
    loop
        execute ddl;
    end loop;
end
$$;

comment on procedure odl.adopt_objects() is -- noqa: LT01
'Hands every object in schema odl to odl_owner, except the audit ledger''s (odl_ledger, odl_signer); '
'each deploy script calls it last';

commit;
