-- Revert odl-db:access from pg

begin;

\set data_tables 'odl.nodes,odl.rbac_assignments,odl.change_requests,odl.approvals'
\ir lib/refuse_data_loss.psql

drop table odl.approvals;
drop table odl.change_requests;
drop table odl.rbac_assignments;
alter table odl.projects drop column node_id;
drop table odl.nodes;

commit;
