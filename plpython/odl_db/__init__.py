"""odl-db's PL/Python code: pure functions from data to data.

The database serves this package from odl.python_modules (see
sql/005_python/python_boot.sql); pytest imports the very same files.
Modules never import plpy: the SQL wrappers keep it at the edge.
"""
