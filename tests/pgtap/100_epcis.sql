-- EPCIS events: the tables' shape (tenant-scoped under forced RLS, keys
-- that lead with the tenant, partitions by pg_partman), and the API's
-- refusals with their SQLSTATEs. tests/python/test_epcis.py checks the
-- event hash against hand-worked vectors and the export against a schema.
begin;
select plan(22);

select has_table('odl', 'epcis_events', 'odl.epcis_events exists');
select col_is_pk('odl', 'epcis_event_ids', array['tenant_id', 'event_id'], 'one row per tenant and event id');
select col_is_pk(
    'odl', 'epcis_event_epcs', array['tenant_id', 'epc', 'event_time', 'event_id', 'role'],
    'the EPC key leads with the tenant and the EPC, then the time: the index answers a serial''s history'
);
select is_empty(
    $$
        select c.relname
        from pg_catalog.pg_class as c
        where c.relnamespace = 'odl'::regnamespace and c.relname like 'epcis\_%' and c.relkind in ('r', 'p')
            and not c.relispartition and c.relname <> 'epcis_status_steps'
            and not (c.relrowsecurity and c.relforcerowsecurity)
    $$,
    'every EPCIS table of tenant data is under forced RLS'
);
select policies_are('odl', 'epcis_events', array['tenant_isolation']);
select is(
    (
        select p.partstrat::text
        from pg_catalog.pg_partitioned_table as p
        where p.partrelid = 'odl.epcis_events'::regclass
    ),
    'r',
    'odl.epcis_events is partitioned by range'
);
select is(
    (select c.partition_interval from partman.part_config as c where c.parent_table = 'odl.epcis_events'),
    '1 mon',
    'pg_partman makes monthly partitions'
);
select ok(
    exists (
        select from pg_catalog.pg_inherits as i
        inner join pg_catalog.pg_class as c on i.inhrelid = c.oid
        where
            i.inhparent = 'odl.epcis_events'::regclass
            and pg_catalog.pg_get_expr(c.relpartbound, c.oid) like format('%%%s%%', to_char(now(), 'YYYY-MM'))
    ),
    'this month has its partition'
);
select table_privs_are('odl', 'epcis_events', 'odl_app', array[]::text[], 'applications never read the events table');
select table_privs_are('odl', 'epcis_events', 'odl_analyst', array[]::text[], 'analysts never read the events table');
select isnt(
    (select s.biz_step from odl.epcis_status_steps as s where s.status = 'commissioned'),
    'commissioning',
    'ODL-SD commissioned (energised) is not CBV commissioning (assigning an id)'
);

-- A tenant with an engineer (W on instances) at a project's node.

set local role odl_admin;
do $$
begin
    perform set_config('fixture.tenant', odl.odl_create_tenant('EPCIS A', 'EU'), true);
    perform set_config(
        'fixture.user', odl.odl_create_user(current_setting('fixture.tenant'), 'eve@a.example', 'engineer'), true
    );
    perform set_config(
        'fixture.admin', odl.odl_create_user(current_setting('fixture.tenant'), 'root@a.example', 'super_user'), true
    );
end
$$;
reset role;
set local role odl_app;
do $$
begin
    perform odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.user'));
    perform set_config('fixture.project', odl.odl_create_project('Solar EPCIS'), true);
    perform odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.admin'));
    perform set_config('fixture.node', odl.odl_create_node(null, 'PORTFOLIO', 'Portfolio EPCIS'), true);
    perform odl.odl_attach_project(current_setting('fixture.project'), current_setting('fixture.node'));
    perform odl.odl_assign_role(current_setting('fixture.user'), current_setting('fixture.node'), 'engineer');
    perform set_config('fixture.event', $event$
        {"type": "ObjectEvent", "eventTime": "2026-01-02T03:04:05Z", "eventTimeZoneOffset": "+00:00",
         "epcList": ["urn:epc:id:sgtin:4012345.011111.1"], "action": "OBSERVE", "bizStep": "receiving",
         "bizLocation": {"id": "urn:epc:id:sgln:4012345.00012.0"}}
    $event$, true);
    perform odl.odl_clear_context();
end
$$;

select throws_ok(
    $$select odl.odl_capture_epcis(current_setting('fixture.project'), current_setting('fixture.event')::jsonb)$$,
    'ODC01',
    'no tenant context is set',
    'capture needs a context'
);
select odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.user'));
select is(
    odl.odl_capture_epcis(current_setting('fixture.project'), current_setting('fixture.event')::jsonb),
    array['ni:///sha-256;' || encode(sha256(convert_to(
        'eventType=ObjectEventeventTime=2026-01-02T03:04:05.000ZeventTimeZoneOffset=+00:00'
        || 'epcListepc=https://id.gs1.org/01/04012345111118/21/1action=OBSERVE'
        || 'bizStep=https://ref.gs1.org/cbv/BizStep-receivingbizLocationid=https://id.gs1.org/414/4012345000122',
        'UTF8'
    )), 'hex') || '?ver=CBV2.0'],
    'capture returns the CBV 2.0 event hash of the event'
);
select throws_ok(
    $$select odl.odl_capture_epcis(current_setting('fixture.project'), current_setting('fixture.event')::jsonb)$$,
    'ODE03',
    'event was captured already',
    'the same event again is refused with ODE03'
);
select throws_ok(
    $$select odl.odl_capture_epcis(
        current_setting('fixture.project'), current_setting('fixture.event')::jsonb - 'eventTimeZoneOffset')$$,
    'ODE01',
    'invalid EPCIS event: eventTimeZoneOffset is required, as +hh:mm or -hh:mm',
    'a malformed event is refused with ODE01'
);
select throws_ok(
    $$select odl.odl_capture_epcis(
        current_setting('fixture.project'),
        current_setting('fixture.event')::jsonb || '{"eventID": "urn:uuid:00000000-0000-4000-8000-000000000000"}')$$,
    'ODE02',
    'eventID is not the event''s CBV 2.0 event hash',
    'an eventID that is not the hash is refused with ODE02'
);
select throws_ok(
    $$select odl.odl_capture_epcis(
        current_setting('fixture.project'),
        current_setting('fixture.event')::jsonb || '{"action": "ADD", "errorDeclaration": {"declarationTime": "2026-01-03T00:00:00Z"}}')$$,
    'ODE04',
    'error declaration names an event that the project never captured',
    'declaring an unknown event erroneous is refused with ODE04'
);
select lives_ok(
    $$select odl.odl_capture_epcis(
        current_setting('fixture.project'),
        current_setting('fixture.event')::jsonb || '{"errorDeclaration": {"declarationTime": "2026-01-03T00:00:00Z"}}')$$,
    'an error declaration of a captured event is accepted'
);
select throws_ok(
    $$select odl.odl_capture_epcis(
        current_setting('fixture.project'),
        current_setting('fixture.event')::jsonb || '{"errorDeclaration": {"declarationTime": "2026-01-04T00:00:00Z"}}')$$,
    'ODE05',
    'event was declared erroneous already',
    'a second declaration is refused with ODE05'
);
select is(
    (select w.event_id from odl.odl_epcis_where('https://id.gs1.org/01/04012345111118/21/1') as w),
    null,
    'a declared event says nothing about where the serial is'
);
select is(
    (select count(*)::int from odl.odl_epcis_trace('urn:epc:id:sgtin:4012345.011111.1') as t where t.declared),
    1,
    'the trace shows the declared event as declared'
);
select throws_ok(
    $$select odl.odl_epcis_document()$$,
    '22023',
    'give exactly one of biz_transaction and epc',
    'an export names a transaction or a serial'
);

select * from finish();
rollback;
