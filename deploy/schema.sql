-- Deploy odl-db:schema to pg
-- requires: roles

begin;

create schema odl authorization odl_owner;
comment on schema odl is 'odl-db: the ODL-SD data platform; API functions carry the odl_ prefix';

revoke all on schema odl from public;
grant usage on schema odl to odl_app, odl_analyst, odl_admin;

create table odl.error_codes (
    sqlstate text primary key,
    name text not null unique,
    meaning text not null,
    constraint error_codes_sqlstate_custom check (sqlstate ~ '^OD[0-9A-Z]{3}$')
);
alter table odl.error_codes owner to odl_owner;
comment on table odl.error_codes is
'The SQLSTATEs that odl-db raises itself, one per kind of failure; each change adds its own';
comment on constraint error_codes_sqlstate_custom on odl.error_codes is
'Class OD is unused by PostgreSQL, so these never clash with its codes';

create table odl.secrets (
    name text primary key,
    inner_key bytea not null,
    outer_key bytea not null,
    created_at timestamptz not null default now(),
    constraint secrets_keys_are_64_bytes check (length(inner_key) = 64 and length(outer_key) = 64)
);
alter table odl.secrets owner to odl_owner;
revoke all on odl.secrets from public;
comment on table odl.secrets is
'Keys the database holds for its MACs, sha256(outer_key || sha256(inner_key || message)): '
'HMAC-SHA-256 with independent random keys. No role but odl_owner reads them';
comment on constraint secrets_keys_are_64_bytes on odl.secrets is 'One SHA-256 block per key';

-- 64 random bytes from four version 4 UUIDs (488 random bits).
insert into odl.secrets (name, inner_key, outer_key)
select
    'context_seal',
    decode(string_agg(replace(gen_random_uuid()::text, '-', ''), '') filter (where n <= 4), 'hex'),
    decode(string_agg(replace(gen_random_uuid()::text, '-', ''), '') filter (where n > 4), 'hex')
from generate_series(1, 8) as n;

commit;
