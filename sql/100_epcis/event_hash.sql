-- The CBV 2.0 event hash (CBV 2.0, "EPCIS Event Hash ID"): the event's
-- fields in the canonical property order, key=value without separators,
-- list members sorted, values normalised (sql/100_epcis/normalize.sql),
-- then ni:///sha-256;<hex>?ver=CBV2.0. eventID, recordTime,
-- errorDeclaration and certificationInfo are not hashed, so an error
-- declaration has the id of the event it declares.

create or replace function odl.epcis_extension(key text, value jsonb, prefixes jsonb)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    -- Rules 19 to 21: {namespace}localname=value; a nested element is its
    -- name followed by its children, sorted; a list repeats the name.
    with named as (
        select case
            when key ~ '^[^:/]+:' and jsonb_typeof(prefixes -> split_part(key, ':', 1)) = 'string' then
                '{' || (prefixes ->> split_part(key, ':', 1)) || '}' || substr(key, length(split_part(key, ':', 1)) + 2)
            else key
        end as name
    )
    select case jsonb_typeof(value)
        when 'object' then
            n.name || coalesce(
                (
                    select string_agg(x.s, '' order by x.s collate "C")
                    from (
                        select odl.epcis_extension(c.key, c.value, prefixes) as s
                        from jsonb_each(value) as c
                        where c.key !~ '^@'
                    ) as x
                ),
                ''
            )
        when 'array' then
            coalesce(
                (
                    select string_agg(x.s, '' order by x.s collate "C")
                    from (
                        select odl.epcis_extension(key, e.value, prefixes) as s
                        from jsonb_array_elements(value) as e
                    ) as x
                ),
                ''
            )
        else n.name || '=' || odl.epcis_scalar(value)
    end
    from named as n
$$;

revoke all on function odl.epcis_extension(text, jsonb, jsonb) from public;
comment on function odl.epcis_extension(text, jsonb, jsonb) is
'A user extension element as the event hash writes it: {namespace}localname=value, children sorted';

create or replace function odl.epcis_extensions(element jsonb, standard text[], prefixes jsonb)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select coalesce(string_agg(x.s, '' order by x.s collate "C"), '')
    from (
        select odl.epcis_extension(m.key, m.value, prefixes) as s
        from jsonb_each(case jsonb_typeof(element) when 'object' then element else '{}' end) as m
        where m.key <> all(standard) and m.key !~ '^@'
    ) as x
$$;

revoke all on function odl.epcis_extensions(jsonb, text[], jsonb) from public;
comment on function odl.epcis_extensions(jsonb, text[], jsonb) is
'The extension elements of an object (its members other than the standard ones), rendered and sorted';

create or replace function odl.epcis_members(element jsonb, fields text[], kinds text[], prefixes jsonb)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    -- The given fields in the given order, each as field=value, normalised
    -- by kind: time, uri, a vocabulary (BizStep, gs1, ...) or plain.
    select coalesce(string_agg(
        f.field || '=' || case
            when f.kind = 'time' then odl.epcis_time(element ->> f.field)
            when f.kind = 'uri' then odl.epcis_uri(element ->> f.field, prefixes)
            when f.kind = 'plain' then odl.epcis_scalar(element -> f.field)
            else odl.epcis_vocab(element ->> f.field, f.kind, prefixes)
        end,
        '' order by f.n
    ), '')
    from unnest(fields, kinds) with ordinality as f (field, kind, n)
    where element ? f.field and jsonb_typeof(element -> f.field) <> 'null'
$$;

revoke all on function odl.epcis_members(jsonb, text[], text[], jsonb) from public;
comment on function odl.epcis_members(jsonb, text[], text[], jsonb) is
'The named fields of an object, in the order given, as field=value normalised by kind (time, uri, plain or a '
'vocabulary)';

create or replace function odl.epcis_prehash(event jsonb, prefixes jsonb)
returns text
language plpgsql
stable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    out text := '';
    list text;
    field text;
    element_fields constant text[] := array[
        'type', 'eventID', 'eventTime', 'eventTimeZoneOffset', 'recordTime', 'errorDeclaration',
        'certificationInfo', 'epcList', 'parentID', 'inputEPCList', 'childEPCs', 'quantityList',
        'childQuantityList', 'inputQuantityList', 'outputEPCList', 'outputQuantityList', 'action',
        'transformationID', 'bizStep', 'disposition', 'persistentDisposition', 'readPoint', 'bizLocation',
        'bizTransactionList', 'sourceList', 'destinationList', 'sensorElementList', 'ilmd'
    ];
    metadata_fields constant text[] := array[
        'time', 'startTime', 'endTime', 'deviceID', 'deviceMetadata', 'rawData', 'dataProcessingMethod', 'bizRules'
    ];
    metadata_kinds constant text[] := array['time', 'time', 'time', 'uri', 'uri', 'uri', 'uri', 'uri'];
    report_fields constant text[] := array[
        'type', 'exception', 'deviceID', 'deviceMetadata', 'rawData', 'dataProcessingMethod', 'time',
        'microorganism', 'chemicalSubstance', 'value', 'component', 'stringValue', 'booleanValue',
        'hexBinaryValue', 'uriValue', 'minValue', 'maxValue', 'meanValue', 'sDev', 'percRank', 'percValue', 'uom',
        'coordinateReferenceSystem'
    ];
    report_kinds constant text[] := array[
        'gs1', 'plain', 'uri', 'uri', 'uri', 'uri', 'time', 'uri', 'uri', 'plain', 'plain', 'plain', 'plain', 'plain',
        'uri', 'plain', 'plain', 'plain', 'plain', 'plain', 'plain', 'plain', 'uri'
    ];
begin
    out := 'eventType=' || btrim(event ->> 'type', E' \t\n\r\f')
        || odl.epcis_members(event, array['eventTime', 'eventTimeZoneOffset'], array['time', 'plain'], prefixes);

    -- Sequences 4 to 12: the lists of identifiers and quantities.
    foreach field in array array[
        'epcList', 'parentID', 'inputEPCList', 'childEPCs', 'quantityList', 'childQuantityList',
        'inputQuantityList', 'outputEPCList', 'outputQuantityList'
    ] loop
        continue when not event ? field or jsonb_typeof(event -> field) = 'null';
        if field = 'parentID' then
            out := out || 'parentID=' || odl.epcis_uri(event ->> 'parentID', prefixes);
        elsif field like '%QuantityList' or field = 'quantityList' then
            select string_agg(x.s, '' order by x.s collate "C") into list
            from (
                select 'quantityElement' || odl.epcis_members(
                    q.value, array['epcClass', 'quantity', 'uom'], array['uri', 'plain', 'plain'], prefixes
                ) as s
                from jsonb_array_elements(event -> field) as q
            ) as x;
            out := out || field || coalesce(list, '');
        else
            select string_agg(x.s, '' order by x.s collate "C") into list
            from (
                select 'epc=' || odl.epcis_uri(e.value #>> '{}', prefixes) as s
                from jsonb_array_elements(event -> field) as e
            ) as x;
            out := out || field || coalesce(list, '');
        end if;
    end loop;

    out := out || odl.epcis_members(
        event, array['action', 'transformationID', 'bizStep', 'disposition'],
        array['plain', 'uri', 'BizStep', 'Disp'], prefixes
    );

    if jsonb_typeof(event -> 'persistentDisposition') = 'object' then
        out := out || 'persistentDisposition' || coalesce((
            select string_agg(x.s, '' order by x.n, x.s collate "C")
            from (
                select k.n, k.key || '=' || odl.epcis_vocab(v.value #>> '{}', 'Disp', prefixes) as s
                from unnest(array['set', 'unset']) with ordinality as k (key, n)
                cross join lateral jsonb_array_elements(
                    case jsonb_typeof(event -> 'persistentDisposition' -> k.key)
                        when 'array' then event -> 'persistentDisposition' -> k.key else '[]'
                    end
                ) as v
            ) as x
        ), '');
    end if;

    foreach field in array array['readPoint', 'bizLocation'] loop
        if jsonb_typeof(event -> field) = 'object' then
            out := out || field || odl.epcis_members(event -> field, array['id'], array['uri'], prefixes)
                || odl.epcis_extensions(event -> field, array['id'], prefixes);
        end if;
    end loop;

    -- Sequences 20 to 22: identifier, then its type (rule 13), sorted.
    foreach field in array array['bizTransactionList', 'sourceList', 'destinationList'] loop
        continue when jsonb_typeof(event -> field) is distinct from 'array';
        select string_agg(x.s, '' order by x.s collate "C") into list
        from (
            select
                odl.epcis_members(
                    t.value,
                    array[left(field, -4), 'type'],
                    array['uri', case field when 'bizTransactionList' then 'BTT' else 'SDT' end],
                    prefixes
                ) as s
            from jsonb_array_elements(event -> field) as t
        ) as x;
        out := out || field || coalesce(list, '');
    end loop;

    if jsonb_typeof(event -> 'sensorElementList') = 'array' then
        select string_agg(x.s, '' order by x.s collate "C") into list
        from (
            select
                'sensorElement'
                || case
                    when jsonb_typeof(se.value -> 'sensorMetadata') = 'object' then
                        'sensorMetadata'
                        || odl.epcis_members(se.value -> 'sensorMetadata', metadata_fields, metadata_kinds, prefixes)
                        || odl.epcis_extensions(se.value -> 'sensorMetadata', metadata_fields, prefixes)
                    else ''
                end
                || coalesce((
                    select string_agg(r.s, '' order by r.s collate "C")
                    from (
                        select
                            'sensorReport'
                            || odl.epcis_members(sr.value, report_fields, report_kinds, prefixes)
                            || odl.epcis_extensions(sr.value, report_fields, prefixes) as s
                        from jsonb_array_elements(
                            case jsonb_typeof(se.value -> 'sensorReport')
                                when 'array' then se.value -> 'sensorReport' else '[]'
                            end
                        ) as sr
                    ) as r
                ), '')
                || odl.epcis_extensions(se.value, array['sensorMetadata', 'sensorReport'], prefixes) as s
            from jsonb_array_elements(event -> 'sensorElementList') as se
        ) as x;
        out := out || 'sensorElementList' || coalesce(list, '');
    end if;

    if jsonb_typeof(event -> 'ilmd') = 'object' then
        out := out || 'ilmd' || odl.epcis_extensions(event -> 'ilmd', '{}', prefixes);
    end if;

    return out || odl.epcis_extensions(event, element_fields, prefixes);
end
$$;

revoke all on function odl.epcis_prehash(jsonb, jsonb) from public;
comment on function odl.epcis_prehash(jsonb, jsonb) is
'The CBV 2.0 pre-hash string of an EPCIS 2.0 JSON event, with prefixes (odl.epcis_prefixes()) for its CURIEs '
'and extensions';

create or replace function odl.epcis_event_id(event jsonb, prefixes jsonb)
returns text
language sql
stable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select 'ni:///sha-256;' || encode(sha256(convert_to(odl.epcis_prehash(event, prefixes), 'UTF8')), 'hex')
        || '?ver=CBV2.0'
$$;

revoke all on function odl.epcis_event_id(jsonb, jsonb) from public;
comment on function odl.epcis_event_id(jsonb, jsonb) is
'The CBV 2.0 event hash id of a checked EPCIS 2.0 JSON event (odl.epcis_check_event() first)';

-- Validation is in sql/100_epcis/validate.sql, included after this file;
-- PL/pgSQL resolves the call when it first runs.
create or replace function odl.odl_epcis_event_hash(event jsonb, prefixes jsonb default '{}')
returns text
language plpgsql
stable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    perform odl.check_json(event, null, 'document_bytes', 'the event');
    perform odl.epcis_check_event(event, '', coalesce(prefixes, '{}'));
    return odl.epcis_event_id(event, coalesce(prefixes, '{}'));
end
$$;

revoke all on function odl.odl_epcis_event_hash(jsonb, jsonb) from public;
grant execute on function odl.odl_epcis_event_hash(jsonb, jsonb) to odl_app, odl_analyst;
comment on function odl.odl_epcis_event_hash(jsonb, jsonb) is
'The CBV 2.0 event hash id of an EPCIS 2.0 JSON event, ni:///sha-256;<hex>?ver=CBV2.0 (README, "EPCIS events"), '
'with the JSON-LD prefixes its extension members use; ODE01 for a malformed event (the detail names the pointer)';
