-- Deploy odl-db:ulid to pg
-- requires: schema

begin;

create domain odl.ulid as text
constraint ulid_format check (value ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$');
comment on domain odl.ulid is
'A ULID: 26 characters of upper-case Crockford base32 (at most 7ZZZZZZZZZZZZZZZZZZZZZZZZZ)';

insert into odl.error_codes (sqlstate, name, meaning) values
('ODU01', 'ulid_overflow', 'More than 2^80 ULIDs were asked for within one millisecond');

\ir ../sql/010_ulid/odl_ulid.sql

call odl.adopt_objects();

commit;
