-- Reads return only what the reader may see: a top-level key is removed
-- unless the reader holds R on its section and a clearance at least the
-- section's classification; inside what remains, parts classified above
-- the clearance (odl.rbac_classified_parts) are removed too.

create or replace function odl.jsonb_without(value jsonb, steps text[])
returns jsonb
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- The value without what the steps name; a "*" step is every key or index.
declare
    head constant text := steps[1];
    rest constant text [] := steps[2:];
begin
    if cardinality(steps) = 0 or jsonb_typeof(value) not in ('object', 'array') then
        return value;
    end if;
    if cardinality(rest) = 0 then
        return case
            when head <> '*' and jsonb_typeof(value) = 'object' then value - head
            when head <> '*' then value
            when jsonb_typeof(value) = 'object' then '{}'
            else '[]'
        end;
    end if;
    if head <> '*' then
        return case
            when jsonb_typeof(value) = 'object' and value ? head
                then jsonb_set(value, array[head], odl.jsonb_without(value -> head, rest))
            else value
        end;
    end if;
    if jsonb_typeof(value) = 'object' then
        return (select jsonb_object_agg(e.key, odl.jsonb_without(e.value, rest)) from jsonb_each(value) as e);
    end if;
    return coalesce(
        (
            select jsonb_agg(odl.jsonb_without(e.value, rest) order by e.ordinality)
            from jsonb_array_elements(value) with ordinality as e
        ),
        '[]'
    );
end
$$;

revoke all on function odl.jsonb_without(jsonb, text[]) from public;
comment on function odl.jsonb_without(jsonb, text[]) is
'The value without the member the path of keys names; a * step stands for every key or array index';

create or replace function odl.redact(doc jsonb, node_id text, out document jsonb, out redacted text[])
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    hidden text [];
    clearance integer;
    part record;
begin
    if doc is null then
        return;
    end if;
    select
        coalesce(array_agg(d.key order by d.key) filter (
            where coalesce(strpos(r.rights, 'R'), 0) = 0 or l.rank > r.clearance
        ), '{}'),
        max(r.clearance)
    into hidden, clearance
    from jsonb_object_keys(doc) as d (key)
    left join odl.rbac_section_keys as k on d.key = k.key
    left join odl.rbac_sections as s on k.section = s.section
    left join odl.classification_levels as l on s.classification = l.level
    left join odl.user_rights(context.user_id, redact.node_id) as r on k.section = r.section;

    document := case when cardinality(hidden) > 0 then doc - hidden else doc end;
    redacted := array(select '/' || replace(replace(h, '~', '~0'), '/', '~1') from unnest(hidden) as h);
    -- A part is rebuilt away only where the document holds it: a JSON path
    -- (a * step matches any member or element) finds it first.
    for part in
        select c.pointer, s.steps
        from odl.rbac_classified_parts as c
        inner join odl.classification_levels as l on c.classification = l.level
        cross join lateral (select (string_to_array(c.pointer, '/'))[2:] as steps) as s
        where l.rank > coalesce(clearance, 0)
        order by c.pointer
    loop
        if jsonb_path_exists(
            document,
            (
                'strict $' || (
                    select string_agg(case when x.step = '*' then '.**{1}' else '.' || to_jsonb(x.step)::text end, ''
                        order by x.n)
                    from unnest(part.steps) with ordinality as x (step, n)
                )
            )::jsonpath,
            '{}', true
        ) then
            document := odl.jsonb_without(document, part.steps);
            redacted := redacted || part.pointer;
        end if;
    end loop;
end
$$;

revoke all on function odl.redact(jsonb, text) from public;
comment on function odl.redact(jsonb, text) is
'A document as the context''s user may read it at a node, and the JSON pointers of what was removed '
'(* in a pointer: any key or index)';
