-- Deploy odl-db:epcis to pg
-- requires: tenancy
-- requires: audit
-- GS1 EPCIS 2.0 events of a tenant's projects: the event ids (the CBV 2.0
-- event hash) in odl.epcis_event_ids, the events in odl.epcis_events
-- (partitioned monthly by pg_partman on record_time), the EPCs and
-- business transactions they name, error declarations and the events that
-- correct them, and the mapping of ODL-SD statuses to CBV business steps.
-- The functions live in sql/100_epcis (change epcis_api).

begin;

-- Which CBV business step and disposition an ODL-SD component status
-- records. Not tenant data: one vocabulary for everyone.
create table odl.epcis_status_steps (
    status text primary key,
    biz_step text not null,
    disposition text not null,
    note text not null
);
comment on table odl.epcis_status_steps is
'The CBV 2.0 business step and disposition of the EPCIS event that records a component reaching an ODL-SD '
'status. ODL-SD commissioned (tested and energised) is not CBV commissioning (assigning an EPC to an object)';
comment on column odl.epcis_status_steps.status is 'ODL-SD component status (ODL-SD-SUPPLEMENT-FACTS 1.4)';
comment on column odl.epcis_status_steps.biz_step is 'CBV 2.0 BizStep, bare word as EPCIS 2.0 JSON writes it';
comment on column odl.epcis_status_steps.disposition is 'CBV 2.0 Disp, bare word';
insert into odl.epcis_status_steps (status, biz_step, disposition, note) values
('shipped', 'shipping', 'in_transit', 'dispatch by the supplier (the pickup event)'),
('received', 'receiving', 'in_progress', 'goods receipt at the depot or site'),
('installed', 'installing', 'active', 'put into the plant (site scan)'),
(
    'commissioned', 'inspecting', 'conformant',
    'acceptance tests passed and energised; not CBV commissioning, which assigns an EPC (the serial capture)'
),
('maintenance', 'repairing', 'unavailable', 'taken out of service for work'),
('quarantine', 'holding', 'non_conformant', 'held for investigation after a defect'),
('returned', 'shipping', 'returned', 'sent back to the supplier (RMA)'),
('retired', 'removing', 'inactive', 'taken out of the plant at end of life'),
('recycling', 'disassembling', 'disposed', 'broken down for recycling');
revoke all on odl.epcis_status_steps from public;

-- One row per event id of a tenant: the uniqueness that the partitioned
-- odl.epcis_events cannot give by itself (its key holds record_time).
create table odl.epcis_event_ids (
    tenant_id odl.ulid not null,
    event_id text not null,
    project_id odl.ulid not null,
    event_type text not null,
    event_time timestamptz not null,
    record_time timestamptz not null,
    primary key (tenant_id, event_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade,
    constraint epcis_event_ids_hash_form check (event_id ~ '^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$')
);
comment on table odl.epcis_event_ids is
'The EPCIS event ids of a tenant, one row each: a second capture of the same event is refused (ODE03)';
comment on column odl.epcis_event_ids.event_id is
'The CBV 2.0 event hash: ni:///sha-256;<hex>?ver=CBV2.0 (README, "EPCIS events")';
comment on constraint epcis_event_ids_hash_form on odl.epcis_event_ids is 'Event ids are CBV 2.0 SHA-256 hashes';

create table odl.epcis_events (
    tenant_id odl.ulid not null,
    event_id text not null,
    record_time timestamptz not null,
    project_id odl.ulid not null,
    event_type text not null,
    event_time timestamptz not null,
    action text,
    biz_step text,
    disposition text,
    read_point text,
    biz_location text,
    event jsonb not null,
    context jsonb not null,
    captured_by odl.ulid,
    primary key (tenant_id, event_id, record_time),
    foreign key (tenant_id, event_id) references odl.epcis_event_ids (tenant_id, event_id),
    constraint epcis_events_type check (
        event_type in ('ObjectEvent', 'AggregationEvent', 'TransactionEvent', 'TransformationEvent', 'AssociationEvent')
    ),
    constraint epcis_events_action check (action in ('ADD', 'OBSERVE', 'DELETE'))
) partition by range (record_time);
comment on table odl.epcis_events is
'EPCIS 2.0 events as captured (JSON-LD), with the columns queries filter on; monthly partitions by pg_partman '
'on record_time, the time of capture';
comment on column odl.epcis_events.record_time is 'When the repository captured the event (EPCIS recordTime)';
comment on column odl.epcis_events.event_time is 'eventTime: when the event happened';
comment on column odl.epcis_events.biz_step is 'bizStep, expanded to its GS1 Web URI';
comment on column odl.epcis_events.disposition is 'disposition, expanded to its GS1 Web URI';
comment on column odl.epcis_events.read_point is 'readPoint.id, normalised as the event hash normalises it';
comment on column odl.epcis_events.biz_location is 'bizLocation.id, normalised as the event hash normalises it';
comment on column odl.epcis_events.event is 'The event as captured, with eventID set to the event hash';
comment on column odl.epcis_events.context is
'The JSON-LD prefixes in force for the event (document and event @context)';
comment on column odl.epcis_events.captured_by is 'The user whose call captured the event';
comment on constraint epcis_events_type on odl.epcis_events is 'The five EPCIS 2.0 event types';
comment on constraint epcis_events_action on odl.epcis_events is 'EPCIS actions; TransformationEvent has none';

-- The identifiers an event names, for "every event of this serial" and
-- "every event of this shipment": keys that lead with what is asked, so
-- that the index answers alone.
create table odl.epcis_event_epcs (
    tenant_id odl.ulid not null,
    epc text not null,
    event_time timestamptz not null,
    event_id text not null,
    role text not null,
    primary key (tenant_id, epc, event_time, event_id, role),
    foreign key (tenant_id, event_id) references odl.epcis_event_ids (tenant_id, event_id),
    constraint epcis_event_epcs_role check (
        role in ('epc', 'parent', 'child', 'input', 'output', 'class', 'child_class', 'input_class', 'output_class')
    )
);
create index epcis_event_epcs_event on odl.epcis_event_epcs (tenant_id, event_id);
comment on table odl.epcis_event_epcs is
'The EPCs and EPC classes each EPCIS event names (normalised to canonical GS1 Digital Link URIs)';
comment on column odl.epcis_event_epcs.role is
'Where the event names it: epcList (epc), parentID, childEPCs, inputEPCList, outputEPCList, or the epcClass of '
'quantityList (class), childQuantityList, inputQuantityList, outputQuantityList';
comment on constraint epcis_event_epcs_role on odl.epcis_event_epcs is 'The lists of an EPCIS event that name objects';
comment on index odl.epcis_event_epcs_event is 'The identifiers of one event';

create table odl.epcis_event_biz_transactions (
    tenant_id odl.ulid not null,
    biz_transaction text not null,
    event_time timestamptz not null,
    event_id text not null,
    type text,
    primary key (tenant_id, biz_transaction, event_time, event_id),
    foreign key (tenant_id, event_id) references odl.epcis_event_ids (tenant_id, event_id)
);
create index epcis_event_biz_transactions_event on odl.epcis_event_biz_transactions (tenant_id, event_id);
comment on table odl.epcis_event_biz_transactions is
'The business transactions (purchase orders, despatch advices, shipments) each EPCIS event names';
comment on column odl.epcis_event_biz_transactions.type is 'The bizTransaction type, expanded to its GS1 Web URI';
comment on index odl.epcis_event_biz_transactions_event is 'The transactions of one event';

-- An error declaration (EPCIS 2.0, 7.4.1.4) says that an event already
-- captured was wrong; it carries the same event id, so it is recorded
-- here and not as a second event.
create table odl.epcis_error_declarations (
    tenant_id odl.ulid not null,
    event_id text not null,
    declaration_time timestamptz not null,
    reason text,
    declaration jsonb not null,
    record_time timestamptz not null,
    declared_by odl.ulid,
    primary key (tenant_id, event_id),
    foreign key (tenant_id, event_id) references odl.epcis_event_ids (tenant_id, event_id)
);
comment on table odl.epcis_error_declarations is
'Events declared erroneous: one declaration per event (a second is ODE05)';
comment on column odl.epcis_error_declarations.reason is 'The reason, expanded to its GS1 Web URI (CBV ER-...)';
comment on column odl.epcis_error_declarations.declaration is 'The errorDeclaration member as captured';

create table odl.epcis_corrective_events (
    tenant_id odl.ulid not null,
    event_id text not null,
    corrective_event_id text not null,
    primary key (tenant_id, event_id, corrective_event_id),
    foreign key (tenant_id, event_id) references odl.epcis_error_declarations (tenant_id, event_id),
    constraint epcis_corrective_events_hash_form check (
        corrective_event_id ~ '^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$'
    )
);
create index epcis_corrective_events_corrective on odl.epcis_corrective_events (tenant_id, corrective_event_id);
comment on table odl.epcis_corrective_events is
'correctiveEventIDs of each error declaration. A corrective event may be captured before or after its '
'declaration, so the id is not a foreign key; odl_epcis_events() joins them';
comment on constraint epcis_corrective_events_hash_form on odl.epcis_corrective_events is
'Corrective events are named by their CBV 2.0 event hash';
comment on index odl.epcis_corrective_events_corrective is 'Which declaration an event corrects';

do $$
declare
    t text;
begin
    foreach t in array array[
        'epcis_event_ids', 'epcis_events', 'epcis_event_epcs', 'epcis_event_biz_transactions',
        'epcis_error_declarations', 'epcis_corrective_events'
    ] loop
        execute format('alter table odl.%I enable row level security', t);
        execute format('alter table odl.%I force row level security', t);
        execute format(
            'create policy tenant_isolation on odl.%I'
            ' using (tenant_id = (select c.tenant_id from odl.current_context as c))'
            ' with check (tenant_id = (select c.tenant_id from odl.current_context as c))',
            t
        );
    end loop;
end
$$;

-- Monthly partitions on the time of capture, which only moves forward:
-- events of any eventTime land in this month's partition, never in the
-- default one. Four months are made ahead; odl.epcis_maintenance()
-- (sql/100_epcis/partitions.sql), run daily, makes more and gives them to
-- odl_owner. automatic_maintenance is off, so that pg_partman's background
-- worker never makes a partition that nobody adopts.
do $$
declare
    partman_schema text;
    partman_version text;
begin
    select e.extnamespace::regnamespace::text, e.extversion
    into partman_schema, partman_version
    from pg_catalog.pg_extension as e
    where e.extname = 'pg_partman';

    execute format(
        'select %I.create_parent(p_parent_table := %L, p_control := %L, p_type := %L, p_interval := %L,'
        ' p_premake := 4, p_start_partition := %L, p_automatic_maintenance := %L)',
        partman_schema, 'odl.epcis_events', 'record_time',
        case when split_part(partman_version, '.', 1)::int < 5 then 'native' else 'range' end,
        '1 month', date_trunc('month', now())::text, 'off'
    );
    execute format(
        'update %I.part_config set infinite_time_partitions = true where parent_table = %L',
        partman_schema, 'odl.epcis_events'
    );
end
$$;

alter table odl.epcis_events owner to odl_owner;
call odl.adopt_objects();
revoke all on odl.epcis_event_ids, odl.epcis_events, odl.epcis_event_epcs, odl.epcis_event_biz_transactions,
odl.epcis_error_declarations, odl.epcis_corrective_events, odl.epcis_status_steps from public, odl_analyst, odl_app;

commit;
