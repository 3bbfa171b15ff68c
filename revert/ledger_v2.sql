-- Revert odl-db:ledger_v2 from pg
-- Hands the audit ledger back to odl_owner with the privileges of change
-- audit, and restores adopt_objects() as change ownership released it.
-- The roles odl_ledger and odl_signer are cluster-wide: they are dropped
-- only when no other database still uses them.

begin;

do $$
begin
    execute 'drop event trigger audit_ledger_domain_guard';
    execute 'drop event trigger audit_ledger_drop_guard';
end
$$;
drop function odl_ledger.refuse_ledger_ddl();
drop schema odl_ledger;

drop table odl.audit_digests;
drop table odl.audit_partitions;

drop policy ledger_owner on odl.audit_events;
drop policy ledger_owner on odl.audit_heads;
alter policy tenant_isolation on odl.audit_events to public;
alter policy tenant_isolation on odl.audit_heads to public;

do $$
declare
    ddl text;
begin
    for ddl in
        select format('alter table %s owner to odl_owner', c.oid::regclass)
        from pg_catalog.pg_class as c
        where c.relnamespace = 'odl'::regnamespace
            and c.relkind in ('r', 'p')
            and c.relowner in (select r.oid from pg_catalog.pg_roles as r where r.rolname in ('odl_ledger', 'odl_signer'))
        union all
        select format('alter routine %s owner to odl_owner', p.oid::regprocedure)
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'odl'::regnamespace
            and p.proowner in (select r.oid from pg_catalog.pg_roles as r where r.rolname in ('odl_ledger', 'odl_signer'))
    loop
        execute ddl;
    end loop;
    for ddl in
        select format('revoke update, delete, truncate on %s from odl_owner', i.inhrelid::regclass)
        from pg_catalog.pg_inherits as i
        where i.inhparent = 'odl.audit_events'::regclass
    loop
        execute ddl;
    end loop;
end
$$;

revoke all on odl.audit_events, odl.audit_heads, odl.audit_keys from public;
revoke update, delete, truncate on odl.audit_events from odl_owner;
revoke delete, truncate on odl.audit_heads from odl_owner;
revoke update, delete, truncate on odl.audit_keys from odl_owner;
grant update (retired_at) on odl.audit_keys to odl_owner;
grant select on odl.audit_events to odl_analyst;

\ir ../sql/000_ownership/adopt_objects.sql

revoke usage on schema odl from odl_signer, odl_ledger;

do $$
declare
    role_name text;
begin
    foreach role_name in array array['odl_ledger', 'odl_signer'] loop
        begin
            execute format('drop role if exists %I', role_name);
        exception when dependent_objects_still_exist then
            raise notice 'role % is still used elsewhere and was kept', role_name;
        end;
    end loop;
end
$$;

commit;
