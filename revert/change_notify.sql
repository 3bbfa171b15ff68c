-- Revert odl-db:change_notify from pg

begin;

commit;
