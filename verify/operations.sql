-- Verify odl-db:operations on pg

select 1;
