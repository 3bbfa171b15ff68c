-- Capture of EPCIS 2.0 JSON/JSON-LD: an EPCISDocument or a single event,
-- into a project of the context's tenant. Every event is checked, hashed
-- and recorded, or none is (one statement).

create or replace function odl.odl_capture_epcis(project_id text, doc jsonb)
returns text[]
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    doc_text text := doc::text;
    events jsonb;
    base text;
    doc_prefixes jsonb;
    item record;
    prefixes jsonb;
    pointer text;
    hash_id text;
    clean jsonb;
    captured_at timestamptz := now();
    ids text[] := '{}';
    declared integer := 0;
    declaration jsonb;
begin
    if doc is null then
        raise exception using errcode = '22004', message = 'doc must not be null';
    end if;
    perform odl.check_json(doc, doc_text, 'document_bytes', 'the EPCIS document');
    perform odl.require_right(odl_capture_epcis.project_id, 'instances', 'W', 'capturing EPCIS events');

    if jsonb_typeof(doc) is distinct from 'object' then
        perform odl.epcis_refuse('', 'the document must be a JSON object');
    elsif doc ->> 'type' = 'EPCISDocument' then
        events := doc #> '{epcisBody,eventList}';
        base := '/epcisBody/eventList/';
        if jsonb_typeof(events) is distinct from 'array' then
            perform odl.epcis_refuse('/epcisBody/eventList', 'an EPCISDocument needs epcisBody.eventList, an array');
        end if;
        if doc ? 'schemaVersion' and doc ->> 'schemaVersion' is distinct from '2.0' then
            perform odl.epcis_refuse('/schemaVersion', 'schemaVersion must be 2.0');
        end if;
    else
        events := jsonb_build_array(doc);
        base := null;
    end if;
    doc_prefixes := case when base is null then '{}' else odl.epcis_prefixes(doc -> '@context') end;

    for item in select e.value as event, e.n - 1 as i from jsonb_array_elements(events) with ordinality as e (value, n) loop
        pointer := coalesce(base || item.i, '');
        prefixes := doc_prefixes || odl.epcis_prefixes(item.event -> '@context');
        perform odl.epcis_check_event(item.event, pointer, prefixes);
        hash_id := odl.epcis_event_id(item.event, prefixes);
        if item.event ? 'eventID' and item.event ->> 'eventID' <> hash_id then
            raise exception using
                errcode = 'ODE02',
                message = 'eventID is not the event''s CBV 2.0 event hash',
                detail = format('pointer %s/eventID, given %s, hash %s', pointer, item.event ->> 'eventID', hash_id),
                hint = 'Leave eventID out and the repository sets it, or compute it as CBV 2.0 describes';
        end if;

        if item.event ? 'errorDeclaration' then
            declaration := item.event -> 'errorDeclaration';
            if not exists (select from odl.epcis_event_ids as i where i.event_id = hash_id and i.project_id = odl_capture_epcis.project_id) then
                raise exception using
                    errcode = 'ODE04',
                    message = 'error declaration names an event that the project never captured',
                    detail = format('pointer %s, event_id %s', pointer, hash_id);
            end if;
            insert into odl.epcis_error_declarations (
                tenant_id, event_id, declaration_time, reason, declaration, record_time, declared_by
            )
            values (
                context.tenant_id, hash_id, (declaration ->> 'declarationTime')::timestamptz,
                case when declaration ? 'reason' then odl.epcis_vocab(declaration ->> 'reason', 'ER', prefixes) end,
                declaration, captured_at, context.user_id
            )
            on conflict on constraint epcis_error_declarations_pkey do nothing;
            if not found then
                raise exception using
                    errcode = 'ODE05',
                    message = 'event was declared erroneous already',
                    detail = format('pointer %s, event_id %s', pointer, hash_id);
            end if;
            insert into odl.epcis_corrective_events (tenant_id, event_id, corrective_event_id)
            select distinct context.tenant_id, hash_id, c.value #>> '{}'
            from jsonb_array_elements(coalesce(declaration -> 'correctiveEventIDs', '[]')) as c;
            declared := declared + 1;
        else
            insert into odl.epcis_event_ids (tenant_id, event_id, project_id, event_type, event_time, record_time)
            values (
                context.tenant_id, hash_id, odl_capture_epcis.project_id, item.event ->> 'type',
                (item.event ->> 'eventTime')::timestamptz, captured_at
            )
            on conflict on constraint epcis_event_ids_pkey do nothing;
            if not found then
                raise exception using
                    errcode = 'ODE03',
                    message = 'event was captured already',
                    detail = format('pointer %s, event_id %s', pointer, hash_id),
                    hint = 'To correct it, capture it again with an errorDeclaration and correctiveEventIDs';
            end if;
            -- Stored as sent, with its id and the repository's recordTime;
            -- the prefixes it needs travel with it, for export.
            clean := (item.event - '@context' - 'recordTime')
                || jsonb_build_object('eventID', hash_id, 'recordTime', odl.epcis_time(captured_at::text));
            insert into odl.epcis_events (
                tenant_id, event_id, record_time, project_id, event_type, event_time, action, biz_step,
                disposition, read_point, biz_location, event, context, captured_by
            )
            values (
                context.tenant_id, hash_id, captured_at, odl_capture_epcis.project_id, item.event ->> 'type',
                (item.event ->> 'eventTime')::timestamptz, item.event ->> 'action',
                odl.epcis_vocab(item.event ->> 'bizStep', 'BizStep', prefixes),
                odl.epcis_vocab(item.event ->> 'disposition', 'Disp', prefixes),
                odl.epcis_uri(item.event #>> '{readPoint,id}', prefixes),
                odl.epcis_uri(item.event #>> '{bizLocation,id}', prefixes),
                clean, prefixes, context.user_id
            );
            insert into odl.epcis_event_epcs (tenant_id, epc, event_time, event_id, role)
            select distinct context.tenant_id, x.epc, (item.event ->> 'eventTime')::timestamptz, hash_id, x.role
            from (
                select odl.epcis_uri(e.value #>> '{}', prefixes) as epc, l.role
                from (values
                    ('epcList', 'epc'), ('childEPCs', 'child'), ('inputEPCList', 'input'), ('outputEPCList', 'output')
                ) as l (list, role)
                cross join lateral jsonb_array_elements(coalesce(item.event -> l.list, '[]')) as e
                union all
                select odl.epcis_uri(q.value ->> 'epcClass', prefixes), l.role
                from (values
                    ('quantityList', 'class'), ('childQuantityList', 'child_class'),
                    ('inputQuantityList', 'input_class'), ('outputQuantityList', 'output_class')
                ) as l (list, role)
                cross join lateral jsonb_array_elements(coalesce(item.event -> l.list, '[]')) as q
                union all
                select odl.epcis_uri(item.event ->> 'parentID', prefixes), 'parent'
                where item.event ? 'parentID'
            ) as x;
            insert into odl.epcis_event_biz_transactions (tenant_id, biz_transaction, event_time, event_id, type)
            select distinct on (t.id)
                context.tenant_id, t.id, (item.event ->> 'eventTime')::timestamptz, hash_id, t.type
            from (
                select
                    odl.epcis_uri(b.value ->> 'bizTransaction', prefixes) as id,
                    case when b.value ? 'type' then odl.epcis_vocab(b.value ->> 'type', 'BTT', prefixes) end as type
                from jsonb_array_elements(coalesce(item.event -> 'bizTransactionList', '[]')) as b
            ) as t
            order by t.id, t.type;
        end if;
        ids := ids || hash_id;
    end loop;

    perform odl.audit_append(
        'epcis.captured',
        jsonb_build_object(
            'events', cardinality(ids) - declared,
            'error_declarations', declared,
            'event_ids_sha256', encode(sha256(convert_to(array_to_string(ids, ' '), 'UTF8')), 'hex'),
            'first_event_id', ids[1]
        ),
        odl_capture_epcis.project_id, null
    );
    return ids;
end
$$;

revoke all on function odl.odl_capture_epcis(text, jsonb) from public;
grant execute on function odl.odl_capture_epcis(text, jsonb) to odl_app;
comment on function odl.odl_capture_epcis(text, jsonb) is
'Captures an EPCIS 2.0 JSON/JSON-LD EPCISDocument, or a single event, into the project; returns the event ids '
'(CBV 2.0 event hashes) in document order. Needs W on instances. ODE01 malformed (the detail names the pointer), '
'ODE02 an eventID that is not the hash, ODE03 an event captured already, ODE04 an error declaration of an '
'unknown event, ODE05 a second declaration; held to document_bytes (ODL01) and nesting_depth (ODL02)';
