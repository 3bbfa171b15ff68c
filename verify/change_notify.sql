-- Verify odl-db:change_notify on pg

select 1;
