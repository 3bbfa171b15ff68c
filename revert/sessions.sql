-- Revert odl-db:sessions from pg

begin;

drop table odl.session_contexts;

commit;
