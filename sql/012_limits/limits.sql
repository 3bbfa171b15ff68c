-- Limits on what one call may ask of the server. Every API function checks
-- the sizes it receives against odl.limits before any expensive work, so an
-- attacker-sized value is refused in microseconds instead of costing seconds
-- and gigabytes. The values live in a table, not in GUCs, because any
-- session can SET a GUC: only the owner (a DBA) may raise a limit.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODL01', 'document_too_large', 'The document''s JSON text is larger than the limit document_bytes'),
('ODL02', 'nesting_too_deep', 'A JSON value nests arrays and objects deeper than the limit nesting_depth'),
('ODL03', 'patch_too_large', 'The patch''s JSON text is larger than the limit patch_bytes'),
('ODL04', 'payload_too_large', 'The audit payload''s JSON text is larger than the limit audit_payload_bytes'),
('ODL05', 'schema_too_large', 'The JSON Schema''s text is larger than the limit schema_bytes'),
('ODL06', 'too_many_engine_operations', 'A patch given to the pure engine has more operations than engine_operations')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create table if not exists odl.limits (
    name text primary key,
    value bigint not null,
    unit text not null,
    sqlstate text not null references odl.error_codes (sqlstate),
    description text not null,
    constraint limits_value_positive check (value > 0),
    constraint limits_nesting_depth_within_python check (name <> 'nesting_depth' or value <= 512)
);
comment on table odl.limits is
'Limits the API checks before any expensive work; a DBA (member of odl_owner) raises one with '
'update odl.limits set value = ... where name = ...';
comment on column odl.limits.name is 'The limit''s name, quoted in the error that enforces it';
comment on column odl.limits.value is 'The largest accepted value, in unit';
comment on column odl.limits.unit is 'bytes (of JSON text as sent), levels or operations';
comment on column odl.limits.sqlstate is 'The SQLSTATE of the error raised when a value exceeds the limit';
comment on column odl.limits.description is 'What the limit bounds and where it is checked';
comment on constraint limits_value_positive on odl.limits is 'A limit is a positive number';
comment on constraint limits_nesting_depth_within_python on odl.limits is
'Python, which checks documents, follows about 1,000 levels; 512 leaves room for the frames around it';

-- Defaults: ten times the largest document the benchmarks write is still
-- refused, one 10 MB document is not; ODL-SD nests about 10 levels deep.
insert into odl.limits (name, value, unit, sqlstate, description) values
('document_bytes', 16777216, 'bytes', 'ODL01', 'A document''s JSON text, as given or as a patch leaves it'),
('nesting_depth', 128, 'levels', 'ODL02', 'Nesting of arrays and objects in any JSON value a caller sends'),
('patch_bytes', 4194304, 'bytes', 'ODL03', 'A patch''s JSON text: odl_apply_patch and odl_jsonpatch_apply'),
('audit_payload_bytes', 65536, 'bytes', 'ODL04', 'The payload of one audit event: odl_audit_log'),
('schema_bytes', 1048576, 'bytes', 'ODL05', 'A JSON Schema''s text: the pg_jsonschema API, register_json_schema'),
('engine_operations', 10000, 'operations', 'ODL06', 'Operations of one patch given to odl_jsonpatch_apply')
on conflict (name) do nothing;

revoke all on odl.limits from public;

create or replace function odl.odl_limits()
returns table (name text, value bigint, unit text, sqlstate text, description text)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select l.name, l.value, l.unit, l.sqlstate, l.description from odl.limits as l order by l.name
$$;
revoke all on function odl.odl_limits() from public;
grant execute on function odl.odl_limits() to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_limits() is
'The limits every caller is held to (see odl.limits), with the SQLSTATE each raises';

-- Raises the limit's SQLSTATE when measured exceeds it. what names the value
-- checked (for example 'the document'), so the message says which one.
create or replace function odl.check_limit(name text, measured bigint, what text)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    lim odl.limits;
begin
    select l.* into lim from odl.limits as l where l.name = check_limit.name;
    if lim is null then
        raise exception 'odl.check_limit: unknown limit %', check_limit.name;
    end if;
    if measured > lim.value then
        raise exception using
            errcode = lim.sqlstate,
            message = format('%s is %s %s, over the limit %s = %s', what, measured, lim.unit, lim.name, lim.value),
            detail = format('limit=%s value=%s found=%s', lim.name, lim.value, measured),
            hint = format('A DBA may raise it: update odl.limits set value = ... where name = %L', lim.name);
    end if;
end
$$;
revoke all on function odl.check_limit(text, bigint, text) from public;
comment on function odl.check_limit(text, bigint, text) is
'Raises the limit''s SQLSTATE, naming the limit, its value and what was found, when measured exceeds it';

-- The limits of one JSON value a caller sends, checked before any work
-- that grows with it: its size in bytes (size_limit) and its nesting
-- depth. With value_text (the value's text, value::text, which a caller
-- has to compute anyway) the size is its exact octet_length; without it,
-- only a value whose binary form is eight times the limit is refused here
-- (no JSON text is smaller than an eighth of its jsonb), and the Python
-- engine measures the text it receives. The depth is found by a jsonpath
-- that descends no deeper than the limit, so a 14,000-deep value costs no
-- more than a 128-deep one. levels_above says how deep the values that
-- count sit: 2 in a patch, whose values sit in operations in an array.
create or replace function odl.check_json(
    value jsonb,
    value_text text,
    size_limit text,
    what text,
    levels_above integer default 0
)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    size_lim odl.limits;
    depth_value bigint;
    stored integer;
begin
    if value is null then
        return;
    end if;
    select l.* into size_lim from odl.limits as l where l.name = size_limit;
    if size_lim is null then
        raise exception 'odl.check_json: unknown limit %', size_limit;
    end if;
    if value_text is not null then
        perform odl.check_limit(size_limit, octet_length(value_text), what);
    else
        stored := pg_column_size(value);
        if stored > 8 * size_lim.value then
            raise exception using
                errcode = size_lim.sqlstate,
                message = format(
                    '%s is over the limit %s = %s: its binary form alone is %s bytes',
                    what, size_lim.name, size_lim.value, stored
                ),
                detail = format('limit=%s value=%s found>=%s', size_lim.name, size_lim.value, stored / 8),
                hint = format('A DBA may raise it: update odl.limits set value = ... where name = %L', size_lim.name);
        end if;
    end if;
    depth_value := (select l.value from odl.limits as l where l.name = 'nesting_depth');
    if jsonb_path_exists(
        value,
        format('strict $.**{%s} ? (@.type() == "array" || @.type() == "object")', depth_value + levels_above)::jsonpath
    ) then
        raise exception using
            errcode = 'ODL02',
            message = format('%s nests deeper than the limit nesting_depth = %s', what, depth_value),
            detail = format('limit=nesting_depth value=%s', depth_value),
            hint = 'A DBA may raise it: update odl.limits set value = ... where name = ''nesting_depth''';
    end if;
end
$$;
revoke all on function odl.check_json(jsonb, text, text, text, integer) from public;
comment on function odl.check_json(jsonb, text, text, text, integer) is
'Raises ODL02 when a JSON value nests deeper than nesting_depth, or the size limit''s SQLSTATE when its text '
'(value_text, or a bound from its binary size) is larger than the limit; levels_above: the depth where its values sit';

-- Every limit at once, for the Python engine, which checks what a patch
-- makes of a document (its size and depth) and what the pure engine is
-- given as text.
create or replace function odl.limit_values()
returns jsonb
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select jsonb_object_agg(l.name, jsonb_build_array(l.value, l.sqlstate)) from odl.limits as l
$$;
revoke all on function odl.limit_values() from public;
comment on function odl.limit_values() is
'Every limit as {"name": [value, sqlstate]}, for the Python engine';
