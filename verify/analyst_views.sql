-- Verify odl-db:analyst_views on pg

select 1;
