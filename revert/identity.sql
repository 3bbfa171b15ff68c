-- Revert odl-db:identity from pg

begin;

grant select on odl.tenants, odl.users, odl.projects, odl.nodes, odl.rbac_assignments, odl.approvals,
odl.audit_events, odl.session_contexts to odl_analyst;

drop table odl.login_bindings;
drop table odl.settings;
drop table odl.identity_keys;
revoke usage on schema odl from odl_auth;

commit;
