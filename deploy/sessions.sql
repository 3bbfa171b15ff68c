-- Deploy odl-db:sessions to pg
-- requires: ownership
-- The tenant context of each backend's current transaction. A setting
-- would be cheaper, but any role can write a setting; only odl_set_context()
-- (as odl_owner) writes this table, and each backend sees only its own row.

begin;

create unlogged table odl.session_contexts (
    backend_pid integer primary key,
    transaction_start timestamptz not null,
    tenant_id text not null,
    user_id text
);
comment on table odl.session_contexts is
'The context set by odl_set_context(): valid while transaction_start is the backend''s now(). '
'Unlogged: it means nothing after a restart';
comment on column odl.session_contexts.transaction_start is
'now() of the transaction that set it; a later transaction of the backend sees no context';

alter table odl.session_contexts enable row level security;
alter table odl.session_contexts force row level security;
create policy own_backend on odl.session_contexts
using (backend_pid = pg_backend_pid())
with check (backend_pid = pg_backend_pid());

revoke all on odl.session_contexts from public;
grant select on odl.session_contexts to odl_app, odl_analyst, odl_admin;

call odl.adopt_objects();

commit;
