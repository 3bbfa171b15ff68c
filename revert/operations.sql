-- Revert odl-db:operations from pg

begin;

commit;
