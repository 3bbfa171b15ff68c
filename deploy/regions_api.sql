-- Deploy odl-db:regions_api to pg

begin;

\ir ../sql/200_regions/regions.sql

call odl.adopt_objects();

commit;
