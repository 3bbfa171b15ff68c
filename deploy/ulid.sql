-- Deploy odl-db:ulid to pg
-- requires: python_loader

begin;

\set source `cat plpython/odl_db/ulid.py`
call odl.python_install('odl_db.ulid', :'source');

\ir ../sql/010_ulid/odl_ulid.sql

call odl.adopt_objects();

commit;
