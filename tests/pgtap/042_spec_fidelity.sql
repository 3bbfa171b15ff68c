-- odl_validate_document(): one row per finding of a document written the
-- spec's way, errors (the schema, the integrity rules) and warnings (what
-- the spec leaves open), for applications and analysts, storing nothing.
-- Creating such documents through the API is tested by
-- tests/python/test_spec_fidelity.py.
begin;
select plan(10);

select function_returns('odl', 'odl_validate_document', array['jsonb'], 'setof record');
select function_privs_are('odl', 'odl_validate_document', array['jsonb'], 'odl_app', array['EXECUTE']);
select function_privs_are('odl', 'odl_validate_document', array['jsonb'], 'odl_analyst', array['EXECUTE']);
select function_privs_are('odl', 'document_findings', array['text'], 'odl_app', array[]::text[]);

-- A document in the spec's forms: a node by type with child ids, components
-- keyed by name, voltage_v and voltage_v_rms, a control port, a connection
-- without id.
select set_config('fixture.doc', $doc$
    {
        "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
        "schema_version": "4.1",
        "meta": {"project": "Solar S", "domain": "PV", "created_at": "2026-01-05T09:00:00+01:00"},
        "hierarchy": {"id": "PLANT-01", "type": "PLANT", "parent_id": "SITE-01", "children": ["BLOCK-01"]},
        "libraries": {
            "components": {
                "string_inverter": {
                    "category": "power_electronics",
                    "ports": [
                        {"id": "dc_in", "direction": "input",
                         "signal": {"kind": "dc", "voltage_v": {"max_system": 1500, "mppt_range": [500, 1300]}}},
                        {"id": "ac_out", "direction": "output", "signal": {"kind": "ac", "voltage_v_rms": 800}},
                        {"id": "ctrl", "direction": "control", "signal": {"kind": "control"}}
                    ]
                },
                "mv_transformer": {
                    "category": "transformer",
                    "ports": [{"id": "lv_in", "direction": "input", "signal": {"kind": "ac", "voltage_v_rms": 800}}]
                }
            }
        },
        "instances": [
            {"id": "INV-01", "type_ref": "string_inverter", "parent_ref": "PLANT-01"},
            {"id": "TX-01", "type_ref": "mv_transformer", "parent_ref": "PLANT-01"}
        ],
        "connections": [
            {
                "from": {"instance_id": "INV-01", "port_id": "ac_out"},
                "to": {"instance_id": "TX-01", "port_id": "lv_in"},
                "kind": "ac_power",
                "attributes": {"length_m": 40.5, "validated": true}
            }
        ]
    }
$doc$, true);

set local role odl_app;
select set_config('fixture.documents', (select count(*)::text from odl.odl_document_heads()), true);

select results_eq(
    $$select pointer, severity, message from odl.odl_validate_document(current_setting('fixture.doc')::jsonb)$$,
    $$
        values
        ('/hierarchy/children/0', 'warning', 'child node "BLOCK-01" is not in this document'),
        ('/hierarchy/parent_id', 'warning', 'parent node "SITE-01" is not in this document')
    $$,
    'a spec-style document has only the warnings of the ids it names in other documents'
);
select results_eq(
    $$
        select pointer, severity
        from odl.odl_validate_document(
            jsonb_set(
                jsonb_set(
                    jsonb_insert(
                        current_setting('fixture.doc')::jsonb, '{instances,2}',
                        '{"id": "INV-01", "type_ref": "string_inverter"}'
                    ),
                    '{hierarchy,level}', '"SITE"'
                ),
                '{connections,0,to,port_id}', '"hv_in"'
            ) || '{"components": {}}'
        )
    $$,
    $$
        values
        ('/components', 'error'),
        ('/connections/0/to/port_id', 'warning'),
        ('/hierarchy/children/0', 'warning'),
        ('/hierarchy/level', 'error'),
        ('/hierarchy/parent_id', 'warning'),
        ('/instances/2/id', 'error')
    $$,
    'schema errors come first, then the integrity errors and warnings, each by pointer'
);
select results_eq(
    $$
        select pointer, severity, message
        from odl.odl_validate_document(current_setting('fixture.doc')::jsonb || '{"schema_version": "9.9"}')
    $$,
    $$
        values
        ('/hierarchy/children/0', 'warning', 'child node "BLOCK-01" is not in this document'),
        ('/hierarchy/parent_id', 'warning', 'parent node "SITE-01" is not in this document'),
        ('/schema_version', 'error', 'unsupported schema version "9.9"')
    $$,
    'an unregistered schema_version is an integrity error'
);
select throws_ok(
    format(
        'select * from odl.odl_validate_document(%L::jsonb)',
        '{"schema_version": "4.1", "x": ' || repeat('[', 3000) || repeat(']', 3000) || '}'
    ),
    'ODL02',
    'the document nests deeper than the limit nesting_depth = 128',
    'a document nested deeper than the limit nesting_depth is refused cleanly'
);
select is(
    (select count(*)::text from odl.odl_document_heads()),
    current_setting('fixture.documents'),
    'validating stores nothing'
);

reset role;
set local role odl_analyst;
select is(
    (select count(*)::int from odl.odl_validate_document(current_setting('fixture.doc')::jsonb)),
    2,
    'analysts validate documents too'
);

select * from finish();
rollback;
