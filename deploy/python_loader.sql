-- Deploy odl-db:python_loader to pg
-- requires: python
-- Run sqitch from the project's top directory: module sources are read
-- from plpython/ relative to it.

begin;

\ir ../sql/005_python_loader/python_boot.sql
\ir ../sql/005_python_loader/python_install.sql

\set source `cat plpython/odl_db/__init__.py`
call odl.python_install('odl_db', :'source');

call odl.adopt_objects();

commit;
