-- JSON Schema (draft 2020-12) validation: the schema registry's writer, and
-- pg_jsonschema's SQL API with its names and signatures. pg_jsonschema is
-- installed in public by default, so these live there too and SQL written
-- for it runs unchanged. Both run jsonschema-rs (odl_db.validation), the
-- Rust engine pg_jsonschema is built on.
--
-- Schemas and instances reach Python as JSON text, never through the jsonb
-- transform: that recurses in C without a stack check, and a deeply nested
-- value would crash the server. The text parser refuses nesting past 1024
-- levels with 54001.

create or replace function odl.json_schema_problems(schema jsonb)
returns text[]
language plpython3u
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
if "validation" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import validation
    SD["validation"] = validation
validation = SD["validation"]
try:
    return validation.check_schema(validation.parse_json(schema))
except validation.TooDeepError as error:
    plpy.error("schema nests too deeply", detail=str(error), sqlstate="54001")
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
            register_json_schema.schema::json, d.doc_json::json
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

create or replace function odl.json_schema_errors(
    schema json,
    instance json,
    out errors text[],
    out schema_problem text
)
language plpython3u
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
if "validation" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import validation
    SD["validation"] = validation
validation = SD["validation"]
try:
    found = validation.instance_errors(schema, instance, GD.setdefault("odl_validation", {}))
except validation.InvalidSchemaError as error:
    return None, str(error)
except validation.TooDeepError as error:
    plpy.error("value nests too deeply to validate", detail=str(error), sqlstate="54001")
except ValueError as error:
    plpy.error("cannot validate the instance", detail=str(error), sqlstate="22023")
return [f"{pointer or '(root)'}: {message}" for pointer, message in found], None
$$;

revoke all on function odl.json_schema_errors(json, json) from public;
comment on function odl.json_schema_errors(json, json) is
'Validation errors of an instance (format an annotation unless the schema opts in), or why the schema itself is '
'unusable; for the pg_jsonschema API';

create or replace function public.jsonschema_validation_errors(schema json, instance json)
returns text[]
language plpgsql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    checked record := odl.json_schema_errors(schema, instance);
begin
    if checked.schema_problem is not null then
        raise exception using
            errcode = '22023',
            message = 'invalid JSON Schema',
            detail = checked.schema_problem;
    end if;
    return checked.errors;
end
$$;

alter function public.jsonschema_validation_errors(json, json) owner to odl_owner;
revoke all on function public.jsonschema_validation_errors(json, json) from public;
grant execute on function public.jsonschema_validation_errors(json, json) to public;
comment on function public.jsonschema_validation_errors(json, json) is
'pg_jsonschema API: every way the instance breaks the draft 2020-12 schema, as "pointer: message"; format is an '
'annotation unless the schema opts into assertion; remote references are refused (22023), never fetched';

create or replace function public.json_matches_schema(schema json, instance json)
returns boolean
language sql
immutable
strict
parallel restricted
security invoker
set search_path = pg_catalog, public, pg_temp
as $$
    select cardinality(public.jsonschema_validation_errors(schema, instance)) = 0
$$;

alter function public.json_matches_schema(json, json) owner to odl_owner;
grant execute on function public.json_matches_schema(json, json) to public;
comment on function public.json_matches_schema(json, json) is
'pg_jsonschema API: whether the instance is valid against the draft 2020-12 schema';

create or replace function public.jsonb_matches_schema(schema json, instance jsonb)
returns boolean
language sql
immutable
strict
parallel restricted
security invoker
set search_path = pg_catalog, public, pg_temp
as $$
    select cardinality(public.jsonschema_validation_errors(schema, instance::json)) = 0
$$;

alter function public.jsonb_matches_schema(json, jsonb) owner to odl_owner;
grant execute on function public.jsonb_matches_schema(json, jsonb) to public;
comment on function public.jsonb_matches_schema(json, jsonb) is
'pg_jsonschema API: whether the jsonb instance is valid against the draft 2020-12 schema';

create or replace function public.jsonschema_is_valid(schema json)
returns boolean
language plpython3u
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
if "validation" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import validation
    SD["validation"] = validation
validation = SD["validation"]
try:
    return not validation.check_schema(validation.parse_json(schema))
except validation.TooDeepError as error:
    plpy.error("schema nests too deeply", detail=str(error), sqlstate="54001")
$$;

alter function public.jsonschema_is_valid(json) owner to odl_owner;
revoke all on function public.jsonschema_is_valid(json) from public;
grant execute on function public.jsonschema_is_valid(json) to public;
comment on function public.jsonschema_is_valid(json) is
'pg_jsonschema API: whether the schema is a valid draft 2020-12 JSON Schema';
