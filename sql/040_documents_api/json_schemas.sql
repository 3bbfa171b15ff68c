-- JSON Schema (draft 2020-12) validation: the schema registry's writer, and
-- pg_jsonschema's SQL API with its names and signatures. pg_jsonschema is
-- installed in public by default, so these live there too and SQL written
-- for it runs unchanged. Both run jsonschema-rs, the Rust engine
-- pg_jsonschema is built on.
--
-- A schema a caller writes is untrusted: its size (schema_bytes, ODL05) and
-- the instance's (document_bytes, ODL01) are checked before either reaches
-- Python, their nesting (nesting_depth, ODL02) as soon as they are parsed,
-- and the validation runs in a child process of the backend
-- (odl_db.sandbox), which is killed when statement_timeout or
-- pg_cancel_backend() interrupts the call: Rust code cannot be interrupted,
-- and a small schema can keep it busy for hours. Only odl_app and odl_admin
-- may validate with schemas of their own.
--
-- Schemas and instances reach Python as JSON text, never through the jsonb
-- transform: that recurses in C without a stack check, and a deeply nested
-- value would crash the server.

-- v0.1.0's validation in the backend, replaced by untrusted_schema_call().
drop function if exists odl.json_schema_errors(json, json);

create or replace function odl.sandbox_call(
    op text,
    schema text,
    instance text,
    max_depth integer,
    out found text[],
    out too_deep text,
    out depth integer,
    out sqlstate text,
    out message text,
    out detail text
)
language plpython3u
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
if "sandbox" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import guards, sandbox
    guards.install(plpy)
    SD["sandbox"], SD["guards"] = sandbox, guards
sandbox, guards = SD["sandbox"], SD["guards"]
# One child per backend, whichever function asks; a reloaded package starts
# a child that runs the new code.
child = GD.get("odl_sandbox")
if type(child) is not sandbox.Sandbox:
    if child is not None:
        child.stop()
    child = GD["odl_sandbox"] = sandbox.Sandbox(guards.check_interrupts)
request = (op, schema.encode("utf-8", "surrogatepass"))
if op == "errors":
    request += (instance.encode("utf-8", "surrogatepass"),)
try:
    kind, *reply = child.call(request + (max_depth,))
except sandbox.SandboxFailed as died:
    return None, None, None, "53200", "the validation ended abnormally (out of memory?)", str(died)
except OSError as error:  # fork or pipe refused: no processes or descriptors left
    return None, None, None, "53200", "cannot start the validating process", error.strerror
except plpy.SPIError as error:  # the cancel that check_interrupts() raised
    return None, None, None, sandbox.spi_sqlstate(error), str(error.args[0] if error.args else error), None
if kind == "ok":
    return reply[0], None, None, None, None, None
if kind == "too_deep":
    return None, reply[0], reply[1], None, None, None
if kind == "invalid_schema":
    return None, None, None, "22023", "invalid JSON Schema", reply[0]
if kind == "invalid":
    return None, None, None, "22023", "cannot validate the instance", reply[0]
return None, None, None, "53200", "out of memory while validating", reply[0]
$$;

revoke all on function odl.sandbox_call(text, text, text, integer) from public;
comment on function odl.sandbox_call(text, text, text, integer) is
'Runs op (errors: the validation errors of the instance, "pointer: message"; problems: why the schema breaks the '
'draft 2020-12 meta-schema) for a caller''s schema in the backend''s validating process (odl_db.sandbox), which '
'statement_timeout and pg_cancel_backend() stop; a value nested past max_depth comes back as (too_deep, depth), '
'a failure as (sqlstate, message, detail)';

create or replace function odl.untrusted_schema_call(op text, schema json, instance json)
returns text[]
language plpgsql
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    lim record;
    checked record;
begin
    select
        max(l.value) filter (where l.name = 'schema_bytes') as schema_bytes,
        max(l.value) filter (where l.name = 'document_bytes') as document_bytes,
        max(l.value) filter (where l.name = 'nesting_depth') as nesting_depth
    into lim
    from odl.limits as l
    where l.name in ('schema_bytes', 'document_bytes', 'nesting_depth');
    -- Sizes first: the text is not even handed to Python when too large.
    if octet_length(schema::text) > lim.schema_bytes then
        perform odl.check_limit('schema_bytes', octet_length(schema::text), 'the schema');
    end if;
    if octet_length(instance::text) > lim.document_bytes then
        perform odl.check_limit('document_bytes', octet_length(instance::text), 'the instance');
    end if;
    checked := odl.sandbox_call(op, schema::text, instance::text, lim.nesting_depth::integer);
    if checked.too_deep is not null then
        perform odl.check_limit('nesting_depth', checked.depth, checked.too_deep);
        -- Deeper than the parser reads (1024), and a DBA allowed that.
        raise exception using
            errcode = '54001',
            message = format('%s nests deeper than the JSON parser reads', checked.too_deep),
            detail = format('%s levels', checked.depth);
    end if;
    if checked.sqlstate is not null then
        perform odl.raise_failure(checked.sqlstate, checked.message, checked.detail);
    end if;
    return checked.found;
end
$$;

revoke all on function odl.untrusted_schema_call(text, json, json) from public;
comment on function odl.untrusted_schema_call(text, json, json) is
'odl.sandbox_call() for a caller''s schema and instance, once their sizes pass schema_bytes (ODL05) and '
'document_bytes (ODL01); raises what it reports: 22023 for an unusable schema, ODL02 past nesting_depth, 57014';

create or replace function odl.json_schema_problems(schema jsonb)
returns text[]
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select odl.untrusted_schema_call('problems', schema::json, null)
$$;

revoke all on function odl.json_schema_problems(jsonb) from public;
comment on function odl.json_schema_problems(jsonb) is
'Why a schema is not a valid draft 2020-12 schema, one "pointer: message" each; empty when it is';

create or replace procedure odl.register_json_schema(version text, schema jsonb)
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    problems text [] := odl.json_schema_problems(register_json_schema.schema);
    failing bigint;
    failures text;
begin
    if cardinality(problems) > 0 then
        raise exception using
            errcode = '22023',
            message = format('schema for version %s is not a valid JSON Schema', register_json_schema.version),
            detail = array_to_string(problems, E'\n');
    end if;
    -- Stored documents were judged by the schema of their version, and
    -- patches re-check only what they touch: a version in use changes only
    -- to a schema that every current document of it still passes.
    if exists (
        select from odl.json_schemas as s
        where s.version = register_json_schema.version
            and s.content_hash <> odl.odl_content_hash(register_json_schema.schema)
    ) then
        select
            count(*),
            string_agg(d.doc_id || ': ' || array_to_string(e.errors[:3], '; '), E'\n' order by d.doc_id)
        into failing, failures
        from odl.odl_documents as d
        cross join lateral public.jsonschema_validation_errors(
            register_json_schema.schema::json, odl.document_resolved(d.tenant_id, d.doc_json, d.external)::json
        ) as e (errors)
        where d.schema_version = register_json_schema.version and cardinality(e.errors) > 0;
        if failing > 0 then
            raise exception using
                errcode = '22023',
                message = format(
                    'schema version %s is in use by %s documents the changed schema refuses',
                    register_json_schema.version, failing
                ),
                detail = failures,
                hint = 'Register the changed schema as a new version.';
        end if;
    end if;
    -- Keyed by version: a schema may change its $id.
    insert into odl.json_schemas as s (schema_id, version, schema, content_hash)
    values (
        register_json_schema.schema ->> '$id', register_json_schema.version,
        register_json_schema.schema, odl.odl_content_hash(register_json_schema.schema)
    )
    on conflict on constraint json_schemas_version_key do update
    set schema_id = excluded.schema_id, schema = excluded.schema, content_hash = excluded.content_hash,
    registered_at = now()
    where s.content_hash <> excluded.content_hash;
end
$$;

revoke all on procedure odl.register_json_schema(text, jsonb) from public; -- noqa: LT01
comment on procedure odl.register_json_schema(text, jsonb) is -- noqa: LT01
'Registers (or updates) the JSON Schema that documents of a schema_version are validated against';

create or replace function public.jsonschema_validation_errors(schema json, instance json)
returns text[]
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select odl.untrusted_schema_call('errors', schema, instance)
$$;

alter function public.jsonschema_validation_errors(json, json) owner to odl_owner;
revoke all on function public.jsonschema_validation_errors(json, json) from public;
grant execute on function public.jsonschema_validation_errors(json, json) to odl_app, odl_admin;
comment on function public.jsonschema_validation_errors(json, json) is
'pg_jsonschema API: every way the instance breaks the draft 2020-12 schema, as "pointer: message"; format is an '
'annotation unless the schema opts into assertion; remote references are refused (22023), never fetched; '
'cancellable, within schema_bytes, document_bytes and nesting_depth (odl_app, odl_admin)';

create or replace function public.json_matches_schema(schema json, instance json)
returns boolean
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select cardinality(odl.untrusted_schema_call('errors', schema, instance)) = 0
$$;

alter function public.json_matches_schema(json, json) owner to odl_owner;
revoke all on function public.json_matches_schema(json, json) from public;
grant execute on function public.json_matches_schema(json, json) to odl_app, odl_admin;
comment on function public.json_matches_schema(json, json) is
'pg_jsonschema API: whether the instance is valid against the draft 2020-12 schema (odl_app, odl_admin)';

create or replace function public.jsonb_matches_schema(schema json, instance jsonb)
returns boolean
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select cardinality(odl.untrusted_schema_call('errors', schema, instance::json)) = 0
$$;

alter function public.jsonb_matches_schema(json, jsonb) owner to odl_owner;
revoke all on function public.jsonb_matches_schema(json, jsonb) from public;
grant execute on function public.jsonb_matches_schema(json, jsonb) to odl_app, odl_admin;
comment on function public.jsonb_matches_schema(json, jsonb) is
'pg_jsonschema API: whether the jsonb instance is valid against the draft 2020-12 schema (odl_app, odl_admin)';

create or replace function public.jsonschema_is_valid(schema json)
returns boolean
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select cardinality(odl.untrusted_schema_call('problems', schema, null)) = 0
$$;

alter function public.jsonschema_is_valid(json) owner to odl_owner;
revoke all on function public.jsonschema_is_valid(json) from public;
grant execute on function public.jsonschema_is_valid(json) to odl_app, odl_admin;
comment on function public.jsonschema_is_valid(json) is
'pg_jsonschema API: whether the schema is a valid draft 2020-12 JSON Schema (odl_app, odl_admin)';
