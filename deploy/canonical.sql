-- Deploy odl-db:canonical to pg
-- requires: python

begin;

\set source `cat plpython/odl_db/canonical.py`
call odl.python_install('odl_db.canonical', :'source');

\ir ../sql/030_canonical/canonical.sql

call odl.adopt_objects();

commit;
