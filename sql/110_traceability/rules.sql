-- Traceability: what ties a serial of the procurement ledger to the EPCIS
-- events that name it (its GTIN, from the component index), which projects
-- a reader may trace in, and the links between events and procurement
-- records.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODF01', 'unknown_serial', 'No serial of that component is visible to the user'),
('ODF02', 'no_gtin', 'The component has no GTIN in the project''s component index: EPCIS events cannot name it'),
('ODF03', 'untraced_status', 'No EPCIS event records that move of the record')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.trace_readable_projects(section text)
returns table (project_id text)
language sql
stable
rows 10
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    -- Runs as its owner: analysts call it through their views without
    -- reading the projects or the assignments. R on the section and the clearance its classification needs, as the
    -- analysts' component view decides; evaluated once per query.
    select p.project_id::text
    from odl.projects as p
    cross join odl.current_context as c
    cross join lateral odl.user_rights(c.user_id, p.node_id) as r
    inner join odl.rbac_sections as s on r.section = s.section
    inner join odl.classification_levels as l on s.classification = l.level
    where r.section = trace_readable_projects.section and strpos(r.rights, 'R') > 0 and r.clearance >= l.rank
$$;

revoke all on function odl.trace_readable_projects(text) from public;
grant execute on function odl.trace_readable_projects(text) to odl_analyst;
comment on function odl.trace_readable_projects(text) is
'The projects of the context''s tenant where its user holds R on the section with the clearance the section''s '
'classification needs (instances: serials, stock and their events; libraries: components)';

create or replace function odl.trace_component_gtin(project_id text, component_ref text)
returns text
language sql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    -- component_ref is the tenant's name for a component: its CMP id, part
    -- number or library key. GTIN-8, -12 and -13 become GTIN-14.
    select lpad(i.gtin, 14, '0')
    from odl.component_index as i
    where
        i.tenant_id = (select c.tenant_id from odl.current_context as c)
        and i.project_id = trace_component_gtin.project_id
        and trace_component_gtin.component_ref in (i.component_id, i.part_number, i.component_key)
        and i.gtin is not null
    order by i.component_id = trace_component_gtin.component_ref desc, i.doc_id, i.component_key
    limit 1
$$;

revoke all on function odl.trace_component_gtin(text, text) from public;
comment on function odl.trace_component_gtin(text, text) is
'The GTIN-14 that the project''s component index gives the component (by CMP id, part number or key), or null';

create or replace function odl.trace_require_gtin(project_id text, component_ref text)
returns text
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    gtin text := odl.trace_component_gtin(trace_require_gtin.project_id, trace_require_gtin.component_ref);
begin
    if gtin is null then
        raise exception using
            errcode = 'ODF02',
            message = format('component %s has no GTIN: EPCIS events cannot name it', trace_require_gtin.component_ref),
            detail = format(
                'project_id %s, component_ref %s', trace_require_gtin.project_id, trace_require_gtin.component_ref
            ),
            hint = 'Give the library component component_identity.classification.gtin';
    end if;
    return gtin;
end
$$;

revoke all on function odl.trace_require_gtin(text, text) from public;
comment on function odl.trace_require_gtin(text, text) is
'The component''s GTIN-14 (odl.trace_component_gtin), or ODF02 naming the component';

create or replace function odl.trace_link(event_id text, kind text, record_id text, project_id text)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
begin
    insert into odl.trace_links (tenant_id, event_id, kind, record_id, project_id, linked_by)
    values (
        context.tenant_id, trace_link.event_id, trace_link.kind, trace_link.record_id, trace_link.project_id,
        context.user_id
    );
    perform odl.audit_append(
        'trace.linked',
        jsonb_build_object('event_id', trace_link.event_id, 'kind', trace_link.kind, 'record_id', trace_link.record_id),
        trace_link.project_id
    );
end
$$;

revoke all on function odl.trace_link(text, text, text, text) from public;
comment on function odl.trace_link(text, text, text, text) is
'Records that an EPCIS event records a shipment move, receipt or stock move, and audits it (trace.linked)';

create or replace function odl.trace_event(
    event_time timestamptz,
    step text,
    disposition text,
    objects jsonb,
    transactions jsonb,
    biz_location text,
    read_point text
)
returns jsonb
language sql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    -- An ObjectEvent (OBSERVE) of the objects: {"epcList": [...]} or
    -- {"quantityList": [...]}. Empty members are left out.
    select jsonb_strip_nulls(
        jsonb_build_object(
            'type', 'ObjectEvent',
            'eventTime', odl.epcis_time(coalesce(trace_event.event_time, now())::text),
            'eventTimeZoneOffset', '+00:00',
            'action', 'OBSERVE',
            'bizStep', trace_event.step,
            'disposition', trace_event.disposition,
            'readPoint', case
                when trace_event.read_point is not null then jsonb_build_object('id', trace_event.read_point)
            end,
            'bizLocation', case
                when trace_event.biz_location is not null then jsonb_build_object('id', trace_event.biz_location)
            end,
            'bizTransactionList', nullif(trace_event.transactions, '[]')
        )
    ) || trace_event.objects
$$;

revoke all on function odl.trace_event(timestamptz, text, text, jsonb, jsonb, text, text) from public;
comment on function odl.trace_event(timestamptz, text, text, jsonb, jsonb, text, text) is
'The EPCIS 2.0 ObjectEvent (action OBSERVE) that records a procurement step: time (now when null), CBV step and '
'disposition, the objects (epcList or quantityList), business transactions, bizLocation and readPoint';

create or replace function odl.trace_location_uri(location text)
returns text
language sql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, pg_temp
as $$
    -- A stock location that is a 13-digit GLN is a GS1 Digital Link; a
    -- location's name is no URI, so the event has no bizLocation then.
    select case when location ~ '^[0-9]{13}$' then 'https://id.gs1.org/414/' || location end
$$;

revoke all on function odl.trace_location_uri(text) from public;
comment on function odl.trace_location_uri(text) is
'The EPCIS bizLocation of a stock location: https://id.gs1.org/414/<GLN> for a 13-digit GLN, else null';
