-- Deploy odl-db:identity to pg
-- requires: tenancy
-- Who may act as whom. The keys that make a context unforgeable and sign
-- the login service's tokens, the database's identity settings, the
-- bindings of human logins to users, and the login service's role.

begin;

do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'odl_auth') then
        create role odl_auth nologin nosuperuser nocreatedb nocreaterole nobypassrls;
    end if;
end
$$;
grant usage on schema odl to odl_auth;
comment on role odl_auth is
'odl-db: the login service; issues the short-lived tokens odl_set_context() requires in token mode';

-- HMAC-SHA-256 keys, stored as the two pads (see sql/050_audit/keys.sql).
-- Nobody but the owner reads them: a context's MAC and a token's signature
-- are only as good as the key's secrecy.
create table odl.identity_keys (
    key_id integer generated always as identity primary key,
    purpose text not null,
    inner_key bytea not null,
    outer_key bytea not null,
    created_at timestamptz not null default now(),
    constraint identity_keys_purpose check (purpose in ('context', 'token'))
);
comment on table odl.identity_keys is
'HMAC keys (as inner and outer pads): purpose context signs each transaction''s context, token signs the login '
'service''s tokens. The newest key of a purpose signs; owner only';
comment on constraint identity_keys_purpose on odl.identity_keys is 'A key signs contexts or tokens';
revoke all on odl.identity_keys from public;

create table odl.settings (
    name text primary key,
    value text not null,
    description text not null
);
comment on table odl.settings is
'Database-wide switches a DBA (member of odl_owner) sets with update odl.settings set value = ... where name = ...';
insert into odl.settings (name, value, description) values
('require_context_token', 'off', 'on: an application''s odl_set_context() needs a token from the login service');
revoke all on odl.settings from public;

-- A human's login role, bound to one user: for that login the context can
-- only be that user.
create table odl.login_bindings (
    login name primary key,
    tenant_id odl.ulid not null,
    user_id odl.ulid not null,
    bound_by odl.ulid not null,
    bound_at timestamptz not null default now(),
    foreign key (tenant_id, user_id) references odl.users (tenant_id, user_id) on delete cascade
);
comment on table odl.login_bindings is
'PostgreSQL login roles of people (analysts, DBAs), each bound to one user of one tenant by its administrator';
alter table odl.login_bindings enable row level security;
alter table odl.login_bindings force row level security;
create policy tenant_isolation on odl.login_bindings
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));
-- odl_set_context() reads the session's own binding before any context exists.
create policy own_login on odl.login_bindings for select using (login = session_user);
revoke all on odl.login_bindings from public;

-- Analysts read views, never the tables behind them: a bound analyst sees
-- exactly what the views show its user.
revoke select on odl.tenants, odl.users, odl.projects, odl.nodes, odl.rbac_assignments, odl.approvals,
odl.audit_events, odl.session_contexts from odl_analyst;

call odl.adopt_objects();

commit;
