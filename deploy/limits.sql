-- Deploy odl-db:limits to pg
-- requires: schema
-- requires: python_loader
-- requires: roles

begin;

\ir ../sql/012_limits/limits.sql
\set source `cat plpython/odl_db/guards.py`
call odl.python_install('odl_db.guards', :'source');

call odl.adopt_objects();

commit;
