-- The structural rules of an EPCIS 2.0 JSON event that capture checks
-- before hashing: what the GS1 EPCIS 2.0 JSON Schema requires of the five
-- event types, written here as checks, each refusal ODE01 with the JSON
-- pointer of the member at fault.

create or replace function odl.epcis_refuse(pointer text, problem text)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception using
        errcode = 'ODE01',
        message = 'invalid EPCIS event: ' || problem,
        detail = format('pointer %s', case when pointer = '' then '""' else pointer end);
end
$$;

revoke all on function odl.epcis_refuse(text, text) from public;
comment on function odl.epcis_refuse(text, text) is
'Raises ODE01: the problem in the message, the JSON pointer of the member at fault in the detail';

create or replace function odl.epcis_check_event(event jsonb, pointer text, prefixes jsonb)
returns void
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    event_type text;
    member record;
    item record;
    standard constant text[] := array[
        '@context', 'type', 'eventID', 'eventTime', 'eventTimeZoneOffset', 'recordTime', 'errorDeclaration',
        'certificationInfo', 'epcList', 'parentID', 'inputEPCList', 'childEPCs', 'quantityList',
        'childQuantityList', 'inputQuantityList', 'outputEPCList', 'outputQuantityList', 'action',
        'transformationID', 'bizStep', 'disposition', 'persistentDisposition', 'readPoint', 'bizLocation',
        'bizTransactionList', 'sourceList', 'destinationList', 'sensorElementList', 'ilmd'
    ];
    -- Which members each type may carry (EPCIS 2.0, section 7.4).
    allowed jsonb := jsonb_build_object(
        'ObjectEvent', jsonb_build_array('epcList', 'quantityList', 'action', 'ilmd'),
        'AggregationEvent', jsonb_build_array('parentID', 'childEPCs', 'childQuantityList', 'action'),
        'TransactionEvent', jsonb_build_array('parentID', 'epcList', 'quantityList', 'action'),
        'TransformationEvent', jsonb_build_array(
            'inputEPCList', 'inputQuantityList', 'outputEPCList', 'outputQuantityList', 'transformationID', 'ilmd'
        ),
        'AssociationEvent', jsonb_build_array('parentID', 'childEPCs', 'childQuantityList', 'action')
    );
    typed_members constant text[] := array[
        'epcList', 'parentID', 'inputEPCList', 'childEPCs', 'quantityList', 'childQuantityList',
        'inputQuantityList', 'outputEPCList', 'outputQuantityList', 'action', 'transformationID', 'ilmd'
    ];
begin
    if jsonb_typeof(event) is distinct from 'object' then
        perform odl.epcis_refuse(pointer, 'an event must be a JSON object');
    end if;
    event_type := event ->> 'type';
    if event_type is null or not allowed ? event_type then
        perform odl.epcis_refuse(
            pointer || '/type',
            format('type must be one of %s', (select string_agg(k, ', ' order by k) from jsonb_object_keys(allowed) as k))
        );
    end if;

    for member in select m.key, m.value from jsonb_each(event) as m loop
        if member.key = any(typed_members) and not (allowed -> event_type) ? member.key then
            perform odl.epcis_refuse(
                pointer || '/' || member.key, format('%s has no member %s', event_type, member.key)
            );
        elsif member.key <> all(standard) and (
            member.key !~ '^[^:/]+:' or jsonb_typeof(prefixes -> split_part(member.key, ':', 1)) is distinct from 'string'
        ) then
            perform odl.epcis_refuse(
                pointer || '/' || replace(replace(member.key, '~', '~0'), '/', '~1'),
                format('%s is no EPCIS member and no extension with a prefix of the @context', member.key)
            );
        end if;
    end loop;

    foreach member.key in array array['eventTime', 'recordTime'] loop
        continue when not event ? member.key;
        if jsonb_typeof(event -> member.key) is distinct from 'string'
            or (event ->> member.key) !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$'
        then
            perform odl.epcis_refuse(
                pointer || '/' || member.key,
                format('%s must be a date-time with a time zone, e.g. 2026-01-02T03:04:05.000+01:00', member.key)
            );
        end if;
        begin
            perform (event ->> member.key)::timestamptz;
        exception when datetime_field_overflow or invalid_datetime_format then
            perform odl.epcis_refuse(pointer || '/' || member.key, format('%s is no valid date-time', member.key));
        end;
    end loop;
    if not event ? 'eventTime' then
        perform odl.epcis_refuse(pointer || '/eventTime', 'eventTime is required');
    end if;
    if jsonb_typeof(event -> 'eventTimeZoneOffset') is distinct from 'string'
        or (event ->> 'eventTimeZoneOffset') !~ '^[+-]((0\d|1[0-3]):[0-5]\d|14:00)$'
    then
        perform odl.epcis_refuse(
            pointer || '/eventTimeZoneOffset', 'eventTimeZoneOffset is required, as +hh:mm or -hh:mm'
        );
    end if;
    if event ? 'eventID' and (jsonb_typeof(event -> 'eventID') <> 'string' or (event ->> 'eventID') !~ '^[a-z][a-z0-9+.-]*:') then
        perform odl.epcis_refuse(pointer || '/eventID', 'eventID must be a URI');
    end if;

    if event_type <> 'TransformationEvent' and coalesce(event ->> 'action', '') not in ('ADD', 'OBSERVE', 'DELETE') then
        perform odl.epcis_refuse(pointer || '/action', 'action is required, one of ADD, OBSERVE, DELETE');
    end if;

    -- Lists of identifiers: arrays of URIs.
    for member in
        select m.key, m.value from jsonb_each(event) as m
        where m.key in ('epcList', 'inputEPCList', 'childEPCs', 'outputEPCList')
    loop
        if jsonb_typeof(member.value) <> 'array' then
            perform odl.epcis_refuse(pointer || '/' || member.key, format('%s must be an array of URIs', member.key));
        end if;
        for item in select e.value, e.n - 1 as i from jsonb_array_elements(member.value) with ordinality as e (value, n) loop
            if jsonb_typeof(item.value) <> 'string' or (item.value #>> '{}') !~ '^[A-Za-z][A-Za-z0-9+.-]*:\S+$' then
                perform odl.epcis_refuse(
                    pointer || '/' || member.key || '/' || item.i, format('a member of %s must be a URI', member.key)
                );
            end if;
        end loop;
    end loop;
    foreach member.key in array array['parentID', 'transformationID', 'bizStep', 'disposition'] loop
        if event ? member.key and (
            jsonb_typeof(event -> member.key) <> 'string' or (event ->> member.key) !~ '^\S+$'
        ) then
            perform odl.epcis_refuse(pointer || '/' || member.key, format('%s must be a non-empty string', member.key));
        end if;
    end loop;

    for member in
        select m.key, m.value from jsonb_each(event) as m
        where m.key in ('quantityList', 'childQuantityList', 'inputQuantityList', 'outputQuantityList')
    loop
        if jsonb_typeof(member.value) <> 'array' then
            perform odl.epcis_refuse(pointer || '/' || member.key, format('%s must be an array', member.key));
        end if;
        for item in select e.value, e.n - 1 as i from jsonb_array_elements(member.value) with ordinality as e (value, n) loop
            if jsonb_typeof(item.value -> 'epcClass') is distinct from 'string' then
                perform odl.epcis_refuse(
                    pointer || '/' || member.key || '/' || item.i || '/epcClass', 'a quantity element needs an epcClass'
                );
            end if;
            if item.value ? 'quantity' and (
                jsonb_typeof(item.value -> 'quantity') <> 'number' or (item.value ->> 'quantity')::numeric < 0
            ) then
                perform odl.epcis_refuse(
                    pointer || '/' || member.key || '/' || item.i || '/quantity', 'quantity must be a number >= 0'
                );
            end if;
            if item.value ? 'uom' and (
                jsonb_typeof(item.value -> 'uom') <> 'string' or (item.value ->> 'uom') !~ '^[A-Z0-9]{2,3}$'
            ) then
                perform odl.epcis_refuse(
                    pointer || '/' || member.key || '/' || item.i || '/uom', 'uom must be a UN/CEFACT Rec 20 code'
                );
            end if;
            if item.value ? 'uom' and not item.value ? 'quantity' then
                perform odl.epcis_refuse(
                    pointer || '/' || member.key || '/' || item.i || '/quantity', 'a uom needs a quantity'
                );
            end if;
        end loop;
    end loop;

    foreach member.key in array array['readPoint', 'bizLocation'] loop
        if event ? member.key and jsonb_typeof(event -> member.key -> 'id') is distinct from 'string' then
            perform odl.epcis_refuse(pointer || '/' || member.key || '/id', format('%s needs an id', member.key));
        end if;
    end loop;

    for member in
        select m.key, m.value from jsonb_each(event) as m
        where m.key in ('bizTransactionList', 'sourceList', 'destinationList')
    loop
        if jsonb_typeof(member.value) <> 'array' then
            perform odl.epcis_refuse(pointer || '/' || member.key, format('%s must be an array', member.key));
        end if;
        for item in select e.value, e.n - 1 as i from jsonb_array_elements(member.value) with ordinality as e (value, n) loop
            if jsonb_typeof(item.value -> left(member.key, -4)) is distinct from 'string' then
                perform odl.epcis_refuse(
                    pointer || '/' || member.key || '/' || item.i || '/' || left(member.key, -4),
                    format('a member of %s needs %s', member.key, left(member.key, -4))
                );
            end if;
            if (member.key <> 'bizTransactionList' or item.value ? 'type')
                and jsonb_typeof(item.value -> 'type') is distinct from 'string'
            then
                perform odl.epcis_refuse(
                    pointer || '/' || member.key || '/' || item.i || '/type',
                    format('a member of %s needs a type', member.key)
                );
            end if;
        end loop;
    end loop;

    if event ? 'sensorElementList' and jsonb_typeof(event -> 'sensorElementList') <> 'array' then
        perform odl.epcis_refuse(pointer || '/sensorElementList', 'sensorElementList must be an array');
    end if;
    for item in
        select e.value, e.n - 1 as i
        from jsonb_array_elements(case when event ? 'sensorElementList' then event -> 'sensorElementList' else '[]' end)
            with ordinality as e (value, n)
    loop
        if jsonb_typeof(item.value -> 'sensorReport') is distinct from 'array'
            or jsonb_array_length(item.value -> 'sensorReport') = 0
        then
            perform odl.epcis_refuse(
                pointer || '/sensorElementList/' || item.i || '/sensorReport', 'a sensor element needs sensorReport'
            );
        end if;
    end loop;
    foreach member.key in array array['ilmd', 'persistentDisposition'] loop
        if event ? member.key and jsonb_typeof(event -> member.key) <> 'object' then
            perform odl.epcis_refuse(pointer || '/' || member.key, format('%s must be an object', member.key));
        end if;
    end loop;

    -- What each type needs (EPCIS 2.0 JSON Schema, per event type).
    if event_type = 'ObjectEvent' and not (event ? 'epcList' or event ? 'quantityList') then
        perform odl.epcis_refuse(pointer || '/epcList', 'an ObjectEvent needs epcList or quantityList');
    elsif event_type in ('AggregationEvent', 'AssociationEvent') and (event ->> 'action') <> 'OBSERVE'
        and not event ? 'parentID' then
        perform odl.epcis_refuse(pointer || '/parentID', format('an %s with action ADD or DELETE needs parentID', event_type));
    elsif event_type = 'TransactionEvent' and jsonb_array_length(coalesce(event -> 'bizTransactionList', '[]')) = 0 then
        perform odl.epcis_refuse(pointer || '/bizTransactionList', 'a TransactionEvent needs bizTransactionList');
    elsif event_type = 'TransformationEvent' and not (
        event ? 'inputEPCList' or event ? 'inputQuantityList' or event ? 'outputEPCList'
        or event ? 'outputQuantityList' or event ? 'transformationID'
    ) then
        perform odl.epcis_refuse(pointer || '/inputEPCList', 'a TransformationEvent needs inputs, outputs or transformationID');
    end if;

    if event ? 'errorDeclaration' then
        if jsonb_typeof(event -> 'errorDeclaration') <> 'object'
            or jsonb_typeof(event -> 'errorDeclaration' -> 'declarationTime') is distinct from 'string'
            or (event #>> '{errorDeclaration,declarationTime}') !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$'
        then
            perform odl.epcis_refuse(
                pointer || '/errorDeclaration/declarationTime', 'an error declaration needs declarationTime, a date-time'
            );
        end if;
        if event -> 'errorDeclaration' ? 'correctiveEventIDs' and (
            jsonb_typeof(event #> '{errorDeclaration,correctiveEventIDs}') <> 'array'
            or exists (
                select from jsonb_array_elements(event #> '{errorDeclaration,correctiveEventIDs}') as c
                where jsonb_typeof(c.value) <> 'string'
                    or (c.value #>> '{}') !~ '^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$'
            )
        ) then
            perform odl.epcis_refuse(
                pointer || '/errorDeclaration/correctiveEventIDs',
                'correctiveEventIDs must be an array of CBV 2.0 event hashes'
            );
        end if;
    end if;
end
$$;

revoke all on function odl.epcis_check_event(jsonb, text, jsonb) from public;
comment on function odl.epcis_check_event(jsonb, text, jsonb) is
'Raises ODE01, naming the JSON pointer (pointer is the event''s own), unless the event is a well-formed EPCIS '
'2.0 JSON event of one of the five types';
