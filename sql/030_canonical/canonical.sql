-- PL/Python wrappers follow one shape: on the first call after each
-- compilation they run odl.python_boot() and keep the module in SD, then
-- they only call it. They are security definer because odl.python_modules,
-- which the importer reads, is not readable by callers.

create or replace function odl.odl_canonical_json(doc jsonb)
returns text
language plpython3u
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
transform for type jsonb
as $$
if "canonical" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import canonical
    SD["canonical"] = canonical
try:
    return SD["canonical"].canonical_json(doc)
except ValueError as error:
    plpy.error(str(error), sqlstate="22003")
$$;

revoke all on function odl.odl_canonical_json(jsonb) from public;
grant execute on function odl.odl_canonical_json(jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_canonical_json(jsonb) is
'The RFC 8785 (JCS) canonical text of a JSON value; numbers are read as IEEE 754 doubles';

create or replace function odl.odl_content_hash(doc jsonb)
returns text
language plpython3u
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
transform for type jsonb
as $$
if "canonical" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import canonical
    SD["canonical"] = canonical
try:
    return SD["canonical"].content_hash(doc)
except ValueError as error:
    plpy.error(str(error), sqlstate="22003")
$$;

revoke all on function odl.odl_content_hash(jsonb) from public;
grant execute on function odl.odl_content_hash(jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_content_hash(jsonb) is
'ODL-SD content hash, "sha256:<hex>" over the RFC 8785 canonical UTF-8 of the value';
