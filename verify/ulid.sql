-- Verify odl-db:ulid on pg

select 1 / (odl.odl_ulid() ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$')::int;
select 'odl.odl_ulid_time(text)'::regprocedure;
select 1 / count(*) from odl.error_codes where sqlstate = 'ODU01';
