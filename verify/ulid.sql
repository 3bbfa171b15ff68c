-- Verify odl-db:ulid on pg

select 1 / (length(odl.odl_ulid()) = 26)::int;
select 'odl.odl_ulid_time(text)'::regprocedure;
select 'odl.ulid'::regtype;
