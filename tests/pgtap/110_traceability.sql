-- Traceability's shape: the link table and the serial index under forced
-- RLS with tenant-paired keys, the indexes the questions read, who may call
-- what, and the events the trace functions build (valid EPCIS: they hash).
-- tests/python/test_traceability.py drives the API from an order to an
-- installed serial and asks the questions.
begin;
select plan(16);

select col_is_pk(
    'odl', 'trace_links', array['tenant_id', 'event_id', 'kind', 'record_id'],
    'trace_links: one link per event and procurement record'
);
select col_is_pk(
    'odl', 'stock_move_serials', array['tenant_id', 'component_ref', 'serial_no', 'moved_at', 'move_id'],
    'stock_move_serials: a serial''s moves, by serial'
);
select policies_are('odl', 'trace_links', array['tenant_isolation']);
select policies_are('odl', 'stock_move_serials', array['tenant_isolation']);
select is_empty(
    $$
        select c.relname
        from pg_catalog.pg_class as c
        where c.oid in ('odl.trace_links'::regclass, 'odl.stock_move_serials'::regclass)
            and not (c.relrowsecurity and c.relforcerowsecurity)
    $$,
    'both tables have forced row-level security'
);
select set_eq(
    $$
        select pg_catalog.pg_get_constraintdef(k.oid)
        from pg_catalog.pg_constraint as k
        where k.conrelid = 'odl.trace_links'::regclass and k.contype = 'f'
    $$,
    array[
        'FOREIGN KEY (tenant_id, event_id) REFERENCES odl.epcis_event_ids(tenant_id, event_id)',
        'FOREIGN KEY (tenant_id, project_id) REFERENCES odl.projects(tenant_id, project_id)',
        'FOREIGN KEY (tenant_id, linked_by) REFERENCES odl.users(tenant_id, user_id)',
        'FOREIGN KEY (tenant_id, shipment_id) REFERENCES odl.shipments(tenant_id, shipment_id)',
        'FOREIGN KEY (tenant_id, receipt_id) REFERENCES odl.receipts(tenant_id, receipt_id)',
        'FOREIGN KEY (tenant_id, move_id) REFERENCES odl.stock_moves(tenant_id, move_id)'
    ],
    'every link names its records with the tenant: no cross-tenant link can be written'
);
select has_index('odl', 'serials', 'serials_trace_lot_idx', 'a lot''s serials by state and PO line');
select has_index('odl', 'serials', 'serials_trace_status_idx', 'a project''s serials by state');
select has_index('odl', 'po_lines', 'po_lines_trace_supplier_idx', 'a PO line''s supplier');
select has_index('odl', 'po_lines', 'po_lines_trace_component_idx', 'a component''s PO lines');
select has_trigger('odl', 'stock_moves', 'stock_moves_index_serials', 'stock moves index their serials');
select function_privs_are(
    'odl', 'odl_trace_receive',
    array['text', 'numeric', 'text', 'text', 'text[]', 'text', 'timestamp with time zone', 'text'],
    'odl_analyst', array[]::text[], 'analysts record nothing'
);
select function_privs_are(
    'odl', 'odl_trace_history', array['text', 'text'], 'odl_analyst', array['EXECUTE'],
    'analysts ask for a serial''s history'
);
select results_eq(
    $$
        select odl.trace_location_uri(x)
        from unnest(array['4012345000016', 'DEPOT-1']) with ordinality as l (x, n)
        order by l.n
    $$,
    $$values ('https://id.gs1.org/414/4012345000016'), (null)$$,
    'a GLN location is a bizLocation, a named one is none'
);
select matches(
    odl.odl_epcis_event_hash(
        odl.trace_event(
            '2026-11-05T11:00:00Z', 'receiving', 'in_progress',
            '{"epcList": ["https://id.gs1.org/01/04012345111118/21/SN-1"]}',
            '[{"type": "po", "bizTransaction": "urn:odl:po:PO-000001"}]',
            'https://id.gs1.org/414/4012345000016', null
        )
    ),
    '^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$',
    'a trace event is a valid EPCIS event: it hashes'
);
select is(
    odl.trace_event(
        '2026-11-05T11:00:00Z', 'installing', 'active', '{"epcList": []}', '[]', null, null
    ),
    '{"type": "ObjectEvent", "eventTime": "2026-11-05T11:00:00.000Z", "eventTimeZoneOffset": "+00:00",'
    ' "action": "OBSERVE", "bizStep": "installing", "disposition": "active", "epcList": []}'::jsonb,
    'a trace event leaves out what it does not have'
);

select * from finish();
rollback;
