-- Deploy odl-db:deploy_guard to pg
-- requires: ledger_v2
-- requires: python_loader
-- The deployer, a superuser, runs code of schema odl on every deploy
-- (adopt_objects(), python_install(), the sources' DO blocks), and anyone
-- may call a PL/Python function, which runs the modules of
-- odl.python_modules in the server's Python, an untrusted language. Were
-- odl_owner, the role every API function runs as, able to replace a
-- routine of odl or a module, it could make a superuser, or the server's
-- OS user, run its code. So only superusers change routines of odl, and
-- the modules belong to the deployer; odl_owner reads them.

begin;

create schema odl_guard;
revoke all on schema odl_guard from public;
comment on schema odl_guard is 'odl-db: the guard against routine DDL by odl_owner; owned by the deployer';

create function odl_guard.refuse_routine_ddl()
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
        where d.schema_name = 'odl' and d.object_type in ('function', 'procedure', 'aggregate')
        limit 1;
    else
        select c.object_identity into hit
        from pg_catalog.pg_event_trigger_ddl_commands() as c
        where c.schema_name = 'odl' and c.object_type in ('function', 'procedure', 'aggregate')
        limit 1;
    end if;
    if hit is not null then
        raise exception using
            errcode = '42501',
            message = 'routines of schema odl may be changed only by a superuser',
            detail = format('%s of %s refused for role %s', tg_tag, hit, current_user),
            hint = 'Change them through sqitch deploy, as a superuser.';
    end if;
end
$$;
revoke all on function odl_guard.refuse_routine_ddl() from public;
comment on function odl_guard.refuse_routine_ddl() is
'Event trigger: refuses, to anyone but a superuser, creating, replacing, altering or dropping a routine of odl';

-- (Event triggers through execute: sqlfluff cannot parse their DDL.)
do $$
begin
    execute 'create event trigger odl_routine_ddl_guard on ddl_command_end when tag in ('
        '''CREATE FUNCTION'', ''CREATE PROCEDURE'', ''CREATE AGGREGATE'', ''ALTER FUNCTION'', '
        '''ALTER PROCEDURE'', ''ALTER ROUTINE'', ''ALTER AGGREGATE'') execute function odl_guard.refuse_routine_ddl()';
    execute 'create event trigger odl_routine_drop_guard on sql_drop execute function odl_guard.refuse_routine_ddl()';
    execute format(
        'comment on event trigger odl_routine_ddl_guard is %L',
        'odl-db: only a superuser may create, replace or alter a routine of schema odl'
    );
    execute format(
        'comment on event trigger odl_routine_drop_guard is %L',
        'odl-db: only a superuser may drop a routine of schema odl'
    );
end
$$;

alter table odl.python_modules owner to current_user;
grant select on odl.python_modules to odl_owner;

commit;
