-- The importer behind every PL/Python function: it serves the package
-- odl_db from odl.python_modules, so the database runs exactly the files in
-- plpython/ that sqitch deployed. Wrappers call it once per compilation; it
-- reloads the package whenever any module's hash has changed.
create or replace function odl.python_boot()
returns void
language plpython3u
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
import importlib.abc
import importlib.util
import sys

rows = plpy.execute(
    "select module, source, sha256 from odl.python_modules order by module"
)
generation = ",".join(r["module"] + ":" + r["sha256"] for r in rows)
if GD.get("odl_db_generation") == generation:
    return

sources = {r["module"]: (r["source"], r["sha256"]) for r in rows}


class OdlDbFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in sources:
            return None
        is_package = any(m.startswith(fullname + ".") for m in sources)
        return importlib.util.spec_from_loader(fullname, self, is_package=is_package)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        source, sha256 = sources[module.__name__]
        module.__odl_sha256__ = sha256
        if module.__spec__.submodule_search_locations is not None:
            module.__path__ = []
        code = compile(source, "odl.python_modules:" + module.__name__, "exec")
        exec(code, module.__dict__)


for name in [n for n in sys.modules if n == "odl_db" or n.startswith("odl_db.")]:
    del sys.modules[name]
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "OdlDbFinder"]
sys.meta_path.insert(0, OdlDbFinder())
GD["odl_db_generation"] = generation
$$;

revoke all on function odl.python_boot() from public;
comment on function odl.python_boot() is
'Installs the importer that serves package odl_db from odl.python_modules; reloads it when a module changed';
