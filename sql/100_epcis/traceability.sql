-- Reading the events back: a shipment's or a serial's events as an EPCIS
-- 2.0 document, a serial's history, and where it is now. A reader sees
-- the events of the projects where it holds R on instances, the section
-- that capture writes. The functions that return sets say how many rows
-- they return (rows): with the default 1000 the planner hashes the whole
-- odl.epcis_event_ids instead of looking the few ids up.

create or replace function odl.epcis_readable_projects()
returns table (project_id text)
language sql
stable
rows 10
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select p.project_id::text
    from odl.projects as p
    cross join odl.current_context as c
    cross join lateral odl.user_rights(c.user_id, p.node_id) as r
    where r.section = 'instances' and strpos(r.rights, 'R') > 0
$$;

revoke all on function odl.epcis_readable_projects() from public;
comment on function odl.epcis_readable_projects() is
'The projects of the context''s tenant whose EPCIS events its user may read (R on instances)';

create or replace function odl.odl_epcis_trace(epc text)
returns table (
    event_time timestamptz,
    event_id text,
    event_type text,
    action text,
    biz_step text,
    disposition text,
    read_point text,
    biz_location text,
    role text,
    via text,
    project_id text,
    declared boolean,
    corrective_event_ids text[]
)
language plpgsql
stable
rows 20
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
-- The events that name the EPC, and, while it was packed into a parent
-- (an AggregationEvent ADD until its DELETE), the events that name the
-- parent: a serial on a pallet travels with the pallet's SSCC.
#variable_conflict use_column
declare
    context record := odl.require_context();
    wanted text := odl.epcis_uri(epc, '{}');
begin
    if epc is null then
        raise exception using errcode = '22004', message = 'epc must not be null';
    end if;
    return query
    with direct as (
        select x.event_id, x.event_time, x.role, null::text as via
        from odl.epcis_event_epcs as x
        where x.tenant_id = context.tenant_id and x.epc = wanted
    ),
    packs as (
        select
            p.epc as parent,
            d.event_time as since,
            (
                select min(u.event_time)
                from odl.epcis_event_epcs as u
                inner join odl.epcis_event_ids as ui on ui.tenant_id = u.tenant_id and ui.event_id = u.event_id
                inner join odl.epcis_events as ue
                    on
                        ue.tenant_id = ui.tenant_id and ue.event_id = ui.event_id
                        and ue.record_time = ui.record_time
                where
                    u.tenant_id = context.tenant_id and u.epc = wanted and u.role = 'child'
                    and u.event_time > d.event_time and ue.event_type = 'AggregationEvent' and ue.action = 'DELETE'
            ) as until
        from direct as d
        inner join odl.epcis_event_ids as di on di.tenant_id = context.tenant_id and di.event_id = d.event_id
        inner join odl.epcis_events as de
            on de.tenant_id = di.tenant_id and de.event_id = di.event_id and de.record_time = di.record_time
        inner join odl.epcis_event_epcs as p
            on p.tenant_id = context.tenant_id and p.event_id = d.event_id and p.role = 'parent'
        where d.role = 'child' and de.event_type = 'AggregationEvent' and de.action = 'ADD'
    ),
    carried as (
        select x.event_id, x.event_time, x.role, k.parent as via
        from packs as k
        inner join odl.epcis_event_epcs as x
            on
                x.tenant_id = context.tenant_id and x.epc = k.parent and x.event_time > k.since
                and (k.until is null or x.event_time < k.until) and x.role <> 'parent'
    ),
    found as (
        select distinct on (a.event_id) a.event_id, a.event_time, a.role, a.via
        from (select * from direct union all select * from carried) as a
        order by a.event_id, a.via nulls first
    )
    select
        f.event_time, f.event_id, e.event_type, e.action, e.biz_step, e.disposition, e.read_point, e.biz_location,
        f.role, f.via, e.project_id::text, d.event_id is not null,
        coalesce(
            (
                select array_agg(c.corrective_event_id order by c.corrective_event_id)
                from odl.epcis_corrective_events as c
                where c.tenant_id = context.tenant_id and c.event_id = f.event_id
            ),
            '{}'
        )
    from found as f
    inner join odl.epcis_event_ids as i on i.tenant_id = context.tenant_id and i.event_id = f.event_id
    inner join odl.epcis_events as e
        on e.tenant_id = i.tenant_id and e.event_id = i.event_id and e.record_time = i.record_time
    left join odl.epcis_error_declarations as d on d.tenant_id = i.tenant_id and d.event_id = i.event_id
    where i.project_id in (select r.project_id from odl.epcis_readable_projects() as r)
    order by f.event_time, f.event_id;
end
$$;

revoke all on function odl.odl_epcis_trace(text) from public;
grant execute on function odl.odl_epcis_trace(text) to odl_app, odl_analyst;
comment on function odl.odl_epcis_trace(text) is
'How the object with this EPC (an EPC URI or a GS1 Digital Link) got where it is: every event that names it, '
'and the events of the parent it was packed into while it was, in event time order, with error declarations '
'and their corrective events; only events of projects where the user holds R on instances';

create or replace function odl.odl_epcis_where(
    epc text,
    out biz_location text,
    out read_point text,
    out disposition text,
    out biz_step text,
    out since timestamptz,
    out event_id text,
    out via text
)
returns record
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    -- The last event that is not declared erroneous says where it is
    -- (bizLocation, of the last event that has one) and in what state.
    with history as (
        select t.*
        from odl.odl_epcis_trace(epc) as t
        where not t.declared
    )
    select
        (select h.biz_location from history as h where h.biz_location is not null order by h.event_time desc limit 1),
        l.read_point, l.disposition, l.biz_step, l.event_time, l.event_id, l.via
    from (select h.* from history as h order by h.event_time desc, h.event_id desc limit 1) as l
$$;

revoke all on function odl.odl_epcis_where(text) from public;
grant execute on function odl.odl_epcis_where(text) to odl_app, odl_analyst;
comment on function odl.odl_epcis_where(text) is
'Where the object with this EPC is now: the bizLocation of its last event that has one, and the read point, '
'disposition, step and time of its last event (through its parent while packed); events declared erroneous '
'do not count. All null when no readable event names it';

create or replace function odl.odl_epcis_document(biz_transaction text default null, epc text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    wanted text;
    body jsonb;
    prefixes jsonb;
begin
    if (biz_transaction is null) = (epc is null) then
        raise exception using
            errcode = '22023',
            message = 'give exactly one of biz_transaction and epc',
            detail = format('biz_transaction %s, epc %s', quote_nullable(biz_transaction), quote_nullable(epc));
    end if;
    wanted := odl.epcis_uri(coalesce(biz_transaction, epc), '{}');
    with chosen as (
        select b.event_id
        from odl.epcis_event_biz_transactions as b
        where odl_epcis_document.biz_transaction is not null and b.tenant_id = context.tenant_id and b.biz_transaction = wanted
        union
        select t.event_id
        from odl.odl_epcis_trace(odl_epcis_document.epc) as t
        where odl_epcis_document.epc is not null
    ),
    chosen_events as (
        select e.event_id, e.event_time, e.event, e.context, d.declaration
        from chosen as c
        inner join odl.epcis_event_ids as i on i.tenant_id = context.tenant_id and i.event_id = c.event_id
        inner join odl.epcis_events as e
            on e.tenant_id = i.tenant_id and e.event_id = i.event_id and e.record_time = i.record_time
        left join odl.epcis_error_declarations as d on d.tenant_id = i.tenant_id and d.event_id = i.event_id
        where i.project_id in (select r.project_id from odl.epcis_readable_projects() as r)
    )
    select
        (
            select coalesce(
                jsonb_agg(
                    x.event || case
                        when x.declaration is null then '{}' else jsonb_build_object('errorDeclaration', x.declaration)
                    end
                    order by x.event_time, x.event_id
                ),
                '[]'
            )
            from chosen_events as x
        ),
        (
            select coalesce(jsonb_object_agg(p.key, p.value), '{}')
            from (
                select distinct on (m.key) m.key, m.value
                from chosen_events as x
                cross join lateral jsonb_each(x.context) as m
                order by m.key, m.value::text
            ) as p
        )
    into body, prefixes;

    return jsonb_build_object(
        '@context', jsonb_build_array('https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld')
        || case when prefixes = '{}' then '[]' else jsonb_build_array(prefixes) end,
        'type', 'EPCISDocument',
        'schemaVersion', '2.0',
        'creationDate', odl.epcis_time(now()::text),
        'epcisBody', jsonb_build_object('eventList', body)
    );
end
$$;

revoke all on function odl.odl_epcis_document(text, text) from public;
grant execute on function odl.odl_epcis_document(text, text) to odl_app, odl_analyst;
comment on function odl.odl_epcis_document(text, text) is
'The events of a business transaction (a shipment, despatch advice or PO: biz_transaction) or of a serial '
'(epc, as odl_epcis_trace() finds them) as an EPCIS 2.0 JSON-LD EPCISDocument, in event time order, '
'declared events with their errorDeclaration; only events of projects where the user holds R on instances. '
'22023 unless exactly one is given';

create or replace function odl.odl_epcis_status_step(status text, out biz_step text, out disposition text)
returns record
language sql
stable
strict
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select s.biz_step, s.disposition from odl.epcis_status_steps as s where s.status = odl_epcis_status_step.status
$$;

revoke all on function odl.odl_epcis_status_step(text) from public;
grant execute on function odl.odl_epcis_status_step(text) to odl_app, odl_analyst;
comment on function odl.odl_epcis_status_step(text) is
'The CBV business step and disposition of the EPCIS event that records an ODL-SD component status '
'(odl.epcis_status_steps); no row for statuses no physical event records (e.g. approved, ordered)';
