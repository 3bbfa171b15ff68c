-- Deploy odl-db:canonical to pg
-- v0.2.0, Document core v2: reworked from @v0.1.0 (see deploy/canonical@v0.1.0.sql)
-- requires: python

begin;

\set source `cat plpython/odl_db/canonical.py`
call odl.python_install('odl_db.canonical', :'source');

\ir ../sql/030_canonical/canonical.sql

call odl.adopt_objects();

commit;
