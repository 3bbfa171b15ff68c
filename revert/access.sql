-- Revert odl-db:access from pg

begin;

drop table odl.approvals;
drop table odl.change_requests;
drop table odl.rbac_assignments;
alter table odl.projects drop column node_id;
drop table odl.nodes;

commit;
