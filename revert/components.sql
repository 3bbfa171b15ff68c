-- Revert odl-db:components from pg

begin;

drop table odl.component_index;
drop table odl.component_transitions;
drop table odl.component_requirements;
drop table odl.component_statuses;

commit;
