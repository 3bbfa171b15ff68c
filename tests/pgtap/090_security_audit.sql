-- odl_security_audit(): clean on the deployed schema, and it finds each
-- planted problem. Each plant runs in a subtransaction that is rolled back
-- right after the audit, and only findings the deployed schema does not
-- already have are returned, so every result shows that plant's findings
-- alone.
begin;
select plan(44);

create function pg_temp.audit_after(ddl text)
returns table (finding text, object_name text, detail text)
language plpgsql
as $$
declare
    findings jsonb;
begin
    begin
        execute ddl;
        select coalesce(jsonb_agg(to_jsonb(a) order by a.finding, a.object_name, a.detail), '[]')
        into findings
        from (
            select * from odl.odl_security_audit()
            except
            select * from pg_temp.deployed_findings
        ) as a;
        -- Undo the plant; local variables survive the rollback.
        raise exception using errcode = 'TPLNT', message = 'undo the plant';
    exception when sqlstate 'TPLNT' then
        null;
    end;
    return query
    select f.finding, f.object_name, f.detail
    from jsonb_to_recordset(findings) as f (finding text, object_name text, detail text);
end
$$;

create temporary table deployed_findings as select * from odl.odl_security_audit();

select has_function('odl', 'odl_security_audit', array[]::name[]);
select function_privs_are('odl', 'odl_security_audit', array[]::name[], 'odl_admin', array['EXECUTE']);
select function_privs_are('odl', 'odl_security_audit', array[]::name[], 'odl_app', array[]::text[]);

-- The deployed schema is clean, for the superuser and for odl_admin. Until
-- the role odl_signer exists (the ledger's signer, being added), the
-- signing key is held by odl_owner, as in v0.1.0, and reported.

create function pg_temp.unexpected_findings()
returns table (finding text, object_name text, detail text)
language sql
as $$
    select a.* from odl.odl_security_audit() as a
    where a.finding <> 'signing_key_exposed' or to_regrole('odl_signer') is not null
$$;
select is_empty($$select * from pg_temp.unexpected_findings()$$, 'the deployed schema has no findings');
grant select on deployed_findings to odl_admin;
set local role odl_admin;
select is_empty($$select * from pg_temp.unexpected_findings()$$, 'odl_admin runs the audit and finds nothing');
reset role;

-- Tenant tables (those with a tenant_id column) need RLS, enabled and forced.

select results_eq(
    $$select * from pg_temp.audit_after('create table odl.planted (tenant_id text, x int)')$$,
    $$values ('rls_not_forced', 'odl.planted', 'row-level security is not enabled')$$,
    'a tenant table without RLS is found'
);
select results_eq(
    $$
        select * from pg_temp.audit_after($ddl$
            create table odl.planted (tenant_id text, x int);
            alter table odl.planted enable row level security;
        $ddl$)
    $$,
    $$values ('rls_not_forced', 'odl.planted', 'row-level security is not forced, so the owner bypasses it')$$,
    'a tenant table with RLS enabled but not forced is found'
);
select is_empty(
    $$
        select * from pg_temp.audit_after($ddl$
            create table odl.planted (tenant_id text, x int);
            alter table odl.planted enable row level security, force row level security;
        $ddl$)
    $$,
    'control: a tenant table with forced RLS is clean'
);

-- A foreign key from one tenant table to another must pair tenant_id with
-- tenant_id; otherwise a row can point into another tenant.

select results_eq(
    $$
        select * from pg_temp.audit_after($ddl$
            create table odl.planted (
                tenant_id odl.ulid, other_col odl.ulid, user_id odl.ulid,
                constraint planted_user_fkey foreign key (other_col, user_id)
                references odl.users (tenant_id, user_id)
            );
            alter table odl.planted enable row level security, force row level security;
        $ddl$)
    $$,
    $$
        values (
            'fk_without_tenant_id', 'odl.planted',
            'foreign key planted_user_fkey to odl.users does not pair tenant_id with tenant_id'
        )
    $$,
    'a foreign key to users on (other_col, user_id) is found'
);
select results_eq(
    $$
        select * from pg_temp.audit_after($ddl$
            create table odl.planted (
                tenant_id odl.ulid, x_tenant odl.ulid, y odl.ulid,
                constraint planted_project_fkey foreign key (x_tenant, y)
                references odl.projects (tenant_id, project_id)
            );
            alter table odl.planted enable row level security, force row level security;
        $ddl$)
    $$,
    $$
        values (
            'fk_without_tenant_id', 'odl.planted',
            'foreign key planted_project_fkey to odl.projects does not pair tenant_id with tenant_id'
        )
    $$,
    'a foreign key to projects on (x_tenant, y) is found'
);
select results_eq(
    $$
        select * from pg_temp.audit_after($ddl$
            create table odl.planted (
                tenant_id odl.ulid, y odl.ulid,
                constraint planted_project_fkey foreign key (y, tenant_id)
                references odl.projects (tenant_id, project_id)
            );
            alter table odl.planted enable row level security, force row level security;
        $ddl$)
    $$,
    $$
        values (
            'fk_without_tenant_id', 'odl.planted',
            'foreign key planted_project_fkey to odl.projects does not pair tenant_id with tenant_id'
        )
    $$,
    'a foreign key that pairs tenant_id with project_id is found'
);
select is_empty(
    $$
        select * from pg_temp.audit_after($ddl$
            create table odl.planted (
                tenant_id odl.ulid, user_id odl.ulid,
                foreign key (tenant_id, user_id) references odl.users (tenant_id, user_id)
            );
            alter table odl.planted enable row level security, force row level security;
        $ddl$)
    $$,
    'control: a foreign key on (tenant_id, user_id) is clean'
);
-- A table without a tenant_id column whose foreign key reaches into a
-- tenant's rows holds tenant data outside RLS.
select isnt_empty(
    $$
        select * from pg_temp.audit_after($ddl$
            create table odl.planted (
                x_tenant odl.ulid, y odl.ulid,
                foreign key (x_tenant, y) references odl.projects (tenant_id, project_id)
            );
        $ddl$)
        where object_name = 'odl.planted'
    $$,
    'a table without tenant_id whose foreign key references projects is found'
);

-- Security definer functions must pin a search_path that no one else can
-- write to.

select results_eq(
    $$
        select * from pg_temp.audit_after($ddl$
            create function odl.odl_planted() returns int language sql security definer as 'select 1';
            revoke all on function odl.odl_planted() from public;
        $ddl$)
    $$,
    $$
        values (
            'definer_without_search_path', 'odl.odl_planted()',
            'security definer function does not pin search_path'
        )
    $$,
    'a security definer function without search_path is found'
);
select results_eq(
    $$
        select * from pg_temp.audit_after($ddl$
            create function odl.odl_planted() returns int language sql security definer
            set search_path = public, odl as 'select 1';
            revoke all on function odl.odl_planted() from public;
        $ddl$)
    $$,
    $$
        values (
            'definer_without_search_path', 'odl.odl_planted()',
            'search_path must list only trusted schemas and end with pg_temp: search_path=public, odl'
        )
    $$,
    'a security definer function with search_path = public, odl is found'
);
select results_eq(
    $$
        select * from pg_temp.audit_after($ddl$
            create function odl.odl_planted() returns int language sql security definer
            set search_path = odl, "$user" as 'select 1';
            revoke all on function odl.odl_planted() from public;
        $ddl$)
    $$,
    $$
        values (
            'definer_without_search_path', 'odl.odl_planted()',
            'search_path must list only trusted schemas and end with pg_temp: search_path=odl, "$user"'
        )
    $$,
    'a security definer function with search_path = odl, "$user" is found'
);
select is_empty(
    $$
        select * from pg_temp.audit_after($ddl$
            create function odl.odl_planted() returns int language sql security definer
            set search_path = pg_catalog, odl, pg_temp as 'select 1';
            revoke all on function odl.odl_planted() from public;
        $ddl$)
    $$,
    'control: a security definer function with search_path = pg_catalog, odl, pg_temp is clean'
);
-- Without pg_temp listed last, the session's temporary schema is searched
-- first for tables, so a caller can shadow odl's tables.
select isnt_empty(
    $$
        select * from pg_temp.audit_after($ddl$
            create function odl.odl_planted() returns int language sql security definer
            set search_path = odl as 'select 1';
            revoke all on function odl.odl_planted() from public;
        $ddl$)
        where finding = 'definer_without_search_path'
    $$,
    'a security definer function with search_path = odl (pg_temp implicitly first) is found'
);

-- Views run with the reader's rights, or with those of an owner that RLS
-- binds (odl_owner), so that RLS always applies.

select results_eq(
    $$select * from pg_temp.audit_after('create view odl.planted_view as select 1 as x')$$,
    $$
        values (
            'view_not_security_invoker', 'odl.planted_view',
            'view runs with the rights of an owner that RLS does not bind'
        )
    $$,
    'a view without security_invoker, owned by a superuser, is found'
);
select is_empty(
    $$
        select * from pg_temp.audit_after(
            'create view odl.planted_view as select 1 as x; alter view odl.planted_view owner to odl_owner'
        )
    $$,
    'control: a view that runs as odl_owner, whom RLS binds, is clean'
);
select is_empty(
    $$
        select * from pg_temp.audit_after(
            'create view odl.planted_view with (security_invoker = true) as select 1 as x'
        )
    $$,
    'control: a security_invoker view is clean'
);

-- odl_app gets nothing beyond the odl_ API and SELECT under forced RLS.

select results_eq(
    $$select * from pg_temp.audit_after('grant insert on odl.projects to odl_app')$$,
    $$values ('app_privilege_beyond_api', 'odl.projects', 'odl_app holds INSERT')$$,
    'INSERT on projects for odl_app is found'
);
select results_eq(
    $$select * from pg_temp.audit_after('grant select on odl.error_codes to odl_app')$$,
    $$values ('app_privilege_beyond_api', 'odl.error_codes', 'odl_app holds SELECT')$$,
    'SELECT on a table without forced RLS for odl_app is found'
);
select results_eq(
    $$select * from pg_temp.audit_after('grant execute on function odl.require_context() to odl_app')$$,
    $$
        values (
            'app_privilege_beyond_api', 'odl.require_context()',
            'odl_app may execute a function outside the odl_ API'
        )
    $$,
    'EXECUTE on require_context() for odl_app is found'
);
select results_eq(
    $$
        select * from pg_temp.audit_after($ddl$
            create sequence odl.planted_seq;
            grant usage on sequence odl.planted_seq to odl_app;
        $ddl$)
    $$,
    $$values ('app_privilege_beyond_api', 'odl.planted_seq', 'odl_app may use a sequence')$$,
    'USAGE on a sequence for odl_app is found'
);
select results_eq(
    $$select * from pg_temp.audit_after('grant create on schema odl to odl_app')$$,
    $$values ('app_privilege_beyond_api', 'odl', 'odl_app may create objects in this schema')$$,
    'CREATE on schema odl for odl_app is found'
);
select results_eq(
    $$select * from pg_temp.audit_after('alter role odl_app bypassrls')$$,
    $$
        values (
            'app_privilege_beyond_api', 'odl_app',
            'odl_app is a superuser, bypasses RLS, creates roles or databases, or is a member of it'
        )
    $$,
    'odl_app with BYPASSRLS is found'
);
select set_has(
    $$select * from pg_temp.audit_after('grant odl_owner to odl_app')$$,
    $$
        values
        ('app_privilege_beyond_api', 'odl_owner', 'odl_app is a member of this role'),
        ('app_privilege_beyond_api', 'odl.projects', 'odl_app holds INSERT'),
        ('app_privilege_beyond_api', 'odl.require_context()', 'odl_app may execute a function outside the odl_ API')
    $$,
    'odl_app as a member of odl_owner is found, with the privileges it inherits'
);

-- A view that filters rows for its reader is a security barrier, so that
-- a function in the reader's WHERE clause never sees the rows it removes.

select results_eq(
    $$select * from pg_temp.audit_after('alter view odl.readable_documents reset (security_barrier)')$$,
    $$
        values (
            'view_not_security_barrier', 'odl.readable_documents',
            'view filters rows by odl.readable_project, odl.redact but is not a security_barrier view'
        )
    $$,
    'odl.readable_documents without security_barrier is found'
);
select results_eq(
    $$select * from pg_temp.audit_after('alter view odl.audit_trail reset (security_barrier)')$$,
    $$
        values (
            'view_not_security_barrier', 'odl.audit_trail',
            'view filters rows by odl.current_context, odl.reader_scope, odl.user_rights but is not a security_barrier view'
        )
    $$,
    'odl.audit_trail without security_barrier is found'
);
select results_eq(
    $$select * from pg_temp.audit_after('alter view odl.readable_instances reset (security_barrier)')$$,
    $$
        values (
            'view_not_security_barrier', 'odl.readable_instances',
            'view filters rows by odl.current_context, odl.user_rights but is not a security_barrier view'
        )
    $$,
    'odl.readable_instances without security_barrier is found'
);
select results_eq(
    $$
        select * from pg_temp.audit_after($ddl$
            create view odl.planted_view with (security_invoker = true) as
            select p.project_id from odl.projects as p where odl.readable_project(p.project_id);
        $ddl$)
    $$,
    $$
        values (
            'view_not_security_barrier', 'odl.planted_view',
            'view filters rows by odl.readable_project but is not a security_barrier view'
        )
    $$,
    'a view filtering by rights without security_barrier is found'
);
select is_empty(
    $$
        select * from pg_temp.audit_after($ddl$
            create view odl.planted_view with (security_invoker = true, security_barrier) as
            select p.project_id from odl.projects as p where odl.readable_project(p.project_id);
        $ddl$)
    $$,
    'control: the same view as a security_barrier is clean'
);

-- The audit signing key belongs to odl_signer alone: no other odl role, nor
-- PUBLIC, may own or read it, be a member of odl_signer, or run the raw
-- signing function.

select results_eq(
    $$select * from pg_temp.audit_after('alter table odl.audit_keys owner to odl_admin')$$,
    $$values ('signing_key_exposed', 'odl.audit_keys', 'signing key held by odl_admin')$$,
    'signing keys owned by another role than odl_signer are found'
);
select results_eq(
    $$select * from pg_temp.audit_after('grant select on odl.audit_keys to odl_analyst')$$,
    $$values ('signing_key_exposed', 'odl.audit_keys', 'odl_analyst holds SELECT on the signing keys')$$,
    'SELECT on the signing keys for odl_analyst is found'
);
select set_has(
    $$select * from pg_temp.audit_after('grant select on odl.audit_keys to public')$$,
    $$values ('signing_key_exposed', 'odl.audit_keys', 'PUBLIC holds SELECT on the signing keys')$$,
    'SELECT on the signing keys for PUBLIC is found'
);
select set_has(
    $$
        select * from pg_temp.audit_after($ddl$
            do $do$ begin if to_regrole('odl_signer') is null then create role odl_signer; end if; end $do$;
            grant odl_signer to odl_app;
        $ddl$)
    $$,
    $$values ('signing_key_exposed', 'odl_app', 'member of odl_signer, so it holds the audit signing key')$$,
    'odl_app as a member of odl_signer is found'
);
select results_eq(
    $$select * from pg_temp.audit_after('grant execute on function odl.audit_hmac(integer, bytea) to odl_admin')$$,
    $$
        values ('signing_key_exposed', 'odl.audit_hmac(integer,bytea)', 'odl_admin may execute the raw signing function')
    $$,
    'EXECUTE on the raw signing function for odl_admin is found'
);

-- pg_jsonschema's validation functions take a schema from the caller (a
-- regular expression in it can run for a long time): only odl_app and
-- odl_admin may execute them, never PUBLIC.

select results_eq(
    $$select * from pg_temp.audit_after('grant execute on function public.json_matches_schema(json, json) to public')$$,
    $$
        values (
            'validation_function_grant', 'public.json_matches_schema(json,json)',
            'PUBLIC may execute a validation function'
        )
    $$,
    'EXECUTE on json_matches_schema() for PUBLIC is found'
);
select results_eq(
    $$
        select * from pg_temp.audit_after(
            'grant execute on function public.jsonschema_validation_errors(json, json) to odl_analyst'
        )
    $$,
    $$
        values (
            'validation_function_grant', 'public.jsonschema_validation_errors(json,json)',
            'odl_analyst may execute a validation function'
        )
    $$,
    'EXECUTE on jsonschema_validation_errors() for odl_analyst is found'
);
select is_empty(
    $$
        select * from pg_temp.audit_after(
            'grant execute on function public.jsonb_matches_schema(json, jsonb) to odl_app, odl_admin'
        )
    $$,
    'control: EXECUTE on jsonb_matches_schema() for odl_app and odl_admin is clean'
);
select is_empty(
    $$
        select p.oid::regprocedure
        from pg_catalog.pg_proc as p
        where p.proname in (
            'json_matches_schema', 'jsonb_matches_schema', 'jsonschema_is_valid', 'jsonschema_validation_errors'
        )
            and (p.proacl is null or exists (select from pg_catalog.aclexplode(p.proacl) as a where a.grantee = 0))
    $$,
    'the deployed validation functions are not executable by PUBLIC'
);

-- Every plant was undone.

select is_empty($$select * from pg_temp.unexpected_findings()$$, 'the schema is clean again after the plants');
select set_eq(
    $$select * from odl.odl_security_audit()$$, $$select * from pg_temp.deployed_findings$$,
    'the findings are those of the deployed schema again'
);

select * from finish();
rollback;
