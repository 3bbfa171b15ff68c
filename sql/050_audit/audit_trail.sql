-- Analysts read audit through this view, under RLS: only the context's
-- tenant. Audit is confidential as a whole; finer rights per user come with
-- the rights model.

create or replace view odl.audit_trail
with (security_invoker = true)
as
select
    e.tenant_id,
    e.seq,
    e.created_at,
    e.event_id,
    e.action,
    e.actor_id,
    u.email as actor_email,
    e.project_id,
    e.doc_id,
    e.payload,
    'confidential'::text as classification,
    encode(e.hash, 'hex') as hash
from odl.audit_events as e
left join odl.users as u on e.tenant_id = u.tenant_id and e.actor_id = u.user_id;

revoke all on odl.audit_trail from public;
grant select on odl.audit_trail to odl_analyst;
comment on view odl.audit_trail is
'The current tenant''s audit events with the actor''s e-mail (odl_analyst); classification confidential. '
'Runs with the reader''s rights, so RLS applies';
