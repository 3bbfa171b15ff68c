-- SIEM export. Every append sends NOTIFY odl_audit with
-- {"tenant_id": ..., "seq": ...}; an exporter LISTENs, then reads with
-- odl_audit_since() from the last seq it shipped. Seqs commit in order
-- (writers hold the chain head until commit), so nothing committed is
-- ever skipped. Ship payload as text: its exact bytes are hashed.

create or replace function odl.odl_audit_since(tenant_id text, after_seq bigint, max_events integer default 1000)
returns setof odl.audit_events
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    caller_tenant text := odl.odl_current_tenant_id();
    caller_user text := odl.odl_current_user_id();
begin
    perform odl.set_session_context(odl_audit_since.tenant_id, null);
    return query
    select e.*
    from odl.audit_events as e
    where e.tenant_id = odl_audit_since.tenant_id and e.seq > coalesce(odl_audit_since.after_seq, 0)
    order by e.seq, e.created_at
    limit greatest(coalesce(odl_audit_since.max_events, 1000), 0);
    perform odl.set_session_context(caller_tenant, caller_user);
end
$$;

revoke all on function odl.odl_audit_since(text, bigint, integer) from public;
grant execute on function odl.odl_audit_since(text, bigint, integer) to odl_admin;
comment on function odl.odl_audit_since(text, bigint, integer) is
'Up to max_events (1000 when null, none when negative) audit events of a tenant after seq after_seq, in seq order, '
'for exporters (odl_admin)';
