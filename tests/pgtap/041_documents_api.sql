-- The document API as odl_app uses it: odl_create_document(),
-- odl_apply_patch() (dry runs included), odl_get_document() for past
-- versions across a snapshot, odl_revert_document(), odl_document_heads()
-- and odl_document_history(), every documented error with its SQLSTATE and
-- message, tenant isolation, the pure RFC 6902 engine and pg_jsonschema's
-- SQL API. Storage is checked as the superuser, which odl_app cannot do.
-- Rights come from role assignments, bootstrapped through the access API:
-- the acting users hold super_user at the PORTFOLIO their projects hang
-- under, so their patches outside the approval sections apply at once.
begin;
select plan(139);

-- Helpers. error_of() runs a statement and returns its error (no row when
-- it succeeds), so that details can be checked too. document_of() is the
-- document that odl_get_document() returns, without the list of what it
-- redacted. hash_at() is the hash of a version as odl_get_document()
-- rebuilds it, or the error it raised, so that a failing rebuild fails its
-- test only. pointers_of() lists the JSON pointers of a detail written one
-- "pointer: message" per line.

create function pg_temp.error_of(statement text)
returns table (state text, message text, detail text)
language plpgsql
as $$
begin
    execute statement;
exception when others then
    get stacked diagnostics state = returned_sqlstate, message = message_text, detail = pg_exception_detail;
    return next;
end
$$;

create function pg_temp.document_of(doc_id text, version integer default null)
returns jsonb
language sql
as $$
    select g.document from odl.odl_get_document(doc_id, version) as g
$$;

create function pg_temp.hash_at(doc_id text, version integer)
returns text
language plpgsql
as $$
begin
    return odl.odl_content_hash(pg_temp.document_of(doc_id, version));
exception when others then
    return format('error %s: %s', sqlstate, sqlerrm);
end
$$;

create function pg_temp.pointers_of(detail text)
returns text[]
language sql
immutable
as $$
    select array_agg(split_part(line, ': ', 1) order by split_part(line, ': ', 1) collate "C")
    from regexp_split_to_table(detail, E'\n') as line
$$;

-- The signatures of the API.

select function_returns('odl', 'odl_create_document', array['text', 'jsonb'], 'text');
select results_eq(
    $$
        select p.oid::regprocedure::text, pg_catalog.pg_get_function_result(p.oid)
        from pg_catalog.pg_proc as p
        where p.oid in (
            'odl.odl_apply_patch(text, jsonb, integer, text, text [], text, boolean, boolean)'::regprocedure,
            'odl.odl_revert_document(text, integer, integer)'::regprocedure,
            'odl.odl_get_document(text, integer)'::regprocedure
        )
        order by 1
    $$,
    $$
        values
        (
            'odl.odl_apply_patch(text,jsonb,integer,text,text[],text,boolean,boolean)',
            'TABLE(version integer, doc_hash text, inverse_patch jsonb, document jsonb, outcome text, '
            || 'change_id text, redacted text[])'
        ),
        (
            'odl.odl_get_document(text,integer)',
            'TABLE(document jsonb, redacted text[])'
        ),
        (
            'odl.odl_revert_document(text,integer,integer)',
            'TABLE(version integer, doc_hash text, inverse_patch jsonb, document jsonb, outcome text, '
            || 'change_id text, redacted text[])'
        )
    $$,
    'odl_apply_patch() and odl_revert_document() return (version, doc_hash, inverse_patch, document, outcome, '
    || 'change_id, redacted); odl_get_document() returns (document, redacted)'
);
select results_eq(
    $$
        select pg_catalog.pg_get_function_arguments(
            'odl.odl_apply_patch(text, jsonb, integer, text, text [], text, boolean, boolean)'::regprocedure
        )
    $$,
    array[
        'doc_id text, patch jsonb, expected_version integer, intent text DEFAULT NULL::text, '
        || 'evidence_uris text[] DEFAULT ''{}''::text[], tool_version text DEFAULT NULL::text, '
        || 'dry_run boolean DEFAULT false, propose boolean DEFAULT false'
    ],
    'odl_apply_patch() takes intent, evidence_uris, tool_version, dry_run and propose as optional arguments'
);

-- Fixtures, through the API: tenants A and B with a user each, projects
-- Solar A and Wind A in A and Solar B in B, and a small valid ODL-SD 4.1
-- document (two blocks, an inverter connected to a transformer). Each
-- tenant's administrator (coarse role super_user) creates a PORTFOLIO,
-- attaches the tenant's projects to it and assigns the user super_user
-- there: the one role that writes every section but audit (the patches
-- below write meta, hierarchy, instances and connections).

set local role odl_admin;
do $$
begin
    perform set_config('fixture.tenant_a', odl.odl_create_tenant('Tenant A', 'EU'), true);
    perform set_config('fixture.tenant_b', odl.odl_create_tenant('Tenant B', 'US'), true);
    perform set_config(
        'fixture.user_a', odl.odl_create_user(current_setting('fixture.tenant_a'), 'ann@a.example', 'engineer'), true
    );
    perform set_config(
        'fixture.user_b', odl.odl_create_user(current_setting('fixture.tenant_b'), 'bob@b.example', 'engineer'), true
    );
    perform set_config(
        'fixture.admin_a', odl.odl_create_user(current_setting('fixture.tenant_a'), 'root@a.example', 'super_user'),
        true
    );
    perform set_config(
        'fixture.admin_b', odl.odl_create_user(current_setting('fixture.tenant_b'), 'root@b.example', 'super_user'),
        true
    );
end
$$;
reset role;
set local role odl_app;
do $$
begin
    perform set_config('fixture.doc', $doc$
        {
            "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
            "schema_version": "4.1",
            "meta": {
                "project": "Solar A",
                "domain": "PV",
                "scale": "UTILITY",
                "units": {"power": "W", "voltage": "V"},
                "timestamps": {"created_at": "2026-01-05T09:00:00Z"},
                "versioning": {"document_version": "4.1.0", "previous_hash": null}
            },
            "hierarchy": {
                "id": "PLANT-01", "level": "PLANT", "name": "Plant 1",
                "children": [{"id": "BLOCK-01", "level": "BLOCK"}, {"id": "BLOCK-02", "level": "BLOCK"}]
            },
            "libraries": {
                "components": [
                    {
                        "id": "CMP:Volta:VSI-250:250000:A", "status": "approved", "rating_w": 250000,
                        "ports": [
                            {
                                "id": "ac_out", "direction": "output",
                                "signal": {"kind": "ac", "voltage": {"nominal": 800}}
                            }
                        ]
                    }
                ]
            },
            "instances": [
                {
                    "id": "INV-01", "type_ref": "CMP:Volta:VSI-250:250000:A", "parent_ref": "BLOCK-01",
                    "lifecycle_status": "operational", "location": {"lat": 40.25, "lon": -3.5}
                },
                {
                    "id": "TX-01", "type_ref": "CMP:Ostwind:MVT-4000:4000000:B", "parent_ref": "BLOCK-01",
                    "lifecycle_status": "installed"
                }
            ],
            "connections": [
                {
                    "id": "C-01", "kind": "ac_power",
                    "from": {"instance_id": "INV-01", "port_id": "ac_out"},
                    "to": {"instance_id": "TX-01", "port_id": "lv_in"}
                }
            ]
        }
    $doc$, true);
    perform odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'));
    perform set_config('fixture.project_a', odl.odl_create_project('Solar A'), true);
    perform set_config('fixture.project_a2', odl.odl_create_project('Wind A'), true);
    perform odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'));
    perform set_config('fixture.project_b', odl.odl_create_project('Solar B'), true);

    perform odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.admin_a'));
    perform set_config('fixture.node_a', odl.odl_create_node(null, 'PORTFOLIO', 'Portfolio A'), true);
    perform odl.odl_attach_project(current_setting('fixture.project_a'), current_setting('fixture.node_a'));
    perform odl.odl_attach_project(current_setting('fixture.project_a2'), current_setting('fixture.node_a'));
    perform odl.odl_assign_role(current_setting('fixture.user_a'), current_setting('fixture.node_a'), 'super_user');
    perform odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.admin_b'));
    perform set_config('fixture.node_b', odl.odl_create_node(null, 'PORTFOLIO', 'Portfolio B'), true);
    perform odl.odl_attach_project(current_setting('fixture.project_b'), current_setting('fixture.node_b'));
    perform odl.odl_assign_role(current_setting('fixture.user_b'), current_setting('fixture.node_b'), 'super_user');
    perform odl.odl_clear_context();
end
$$;

-- Without a context, odl_app cannot create a document.

select throws_ok(
    $$select odl.odl_create_document(current_setting('fixture.project_a'), current_setting('fixture.doc')::jsonb)$$,
    'ODC01',
    'no tenant context is set',
    'odl_create_document() without a context raises ODC01'
);

-- odl_create_document(project_id, doc), in tenant A.

select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'))$$,
    'setup: odl_app takes tenant A''s context'
);
do $$
begin
    perform set_config(
        'fixture.doc_id',
        odl.odl_create_document(current_setting('fixture.project_a'), current_setting('fixture.doc')::jsonb),
        true
    );
end
$$;
select matches(
    current_setting('fixture.doc_id'), '^[0-7][0-9A-HJKMNP-TV-Z]{25}$', 'odl_create_document() returns a ULID'
);
select results_eq(
    $$
        select doc_id, project_id, version, doc_hash, schema_version, updated_by
        from odl.odl_document_heads(current_setting('fixture.project_a'))
    $$,
    $$
        values (
            current_setting('fixture.doc_id'), current_setting('fixture.project_a'), 1,
            odl.odl_content_hash(current_setting('fixture.doc')::jsonb), '4.1', current_setting('fixture.user_a')
        )
    $$,
    'a new document is version 1, its doc_hash is odl_content_hash() of the input, written by the acting user'
);
select results_eq(
    $$select document, redacted from odl.odl_get_document(current_setting('fixture.doc_id'))$$,
    $$values (current_setting('fixture.doc')::jsonb, array[]::text [])$$,
    'odl_get_document() returns the stored document, equal to the input, with nothing redacted for a super_user'
);
select results_eq(
    $$select document, redacted from odl.odl_get_document(current_setting('fixture.doc_id'), 1)$$,
    $$values (current_setting('fixture.doc')::jsonb, array[]::text [])$$,
    'odl_get_document(doc_id, 1) returns version 1'
);

reset role;
select results_eq(
    $$
        select
            d.tenant_id::text, d.project_id::text, d.version, d.doc_json = current_setting('fixture.doc')::jsonb,
            d.created_by::text, d.updated_by::text,
            v.version, v.doc_hash = d.doc_hash, v.doc_json = d.doc_json, v.created_by::text,
            (select count(*)::int from odl.odl_patches as p where p.doc_id = d.doc_id)
        from odl.odl_documents as d
        inner join odl.odl_document_versions as v on v.tenant_id = d.tenant_id and v.doc_id = d.doc_id
        where d.doc_id = current_setting('fixture.doc_id')
    $$,
    $$
        values (
            current_setting('fixture.tenant_a'), current_setting('fixture.project_a'), 1, true,
            current_setting('fixture.user_a'), current_setting('fixture.user_a'),
            1, true, true, current_setting('fixture.user_a'),
            0
        )
    $$,
    'storage: the document in tenant A, and version 1 as a full snapshot with the same hash, and no patch'
);
set local role odl_app;

select throws_ok(
    $$select odl.odl_create_document('01ARYZ6S41TSV4RRFFQ69G5FAV', current_setting('fixture.doc')::jsonb)$$,
    'ODD02',
    'project does not exist',
    'a document of an unknown project is refused with ODD02'
);

-- Validation on create: ODS01 for the JSON Schema, ODS02 for the rules
-- beyond it. The detail names every failing pointer, one per line.

select throws_ok(
    $$
        select odl.odl_create_document(
            current_setting('fixture.project_a'),
            jsonb_set(
                jsonb_set(
                    jsonb_set(
                        jsonb_set(current_setting('fixture.doc')::jsonb, '{hierarchy,level}', '"GALAXY"'),
                        '{meta,domain}', '"SPACE"'
                    ),
                    '{instances,0,location,lat}', '91'
                ),
                '{connections,0,kind}', '"dc"'
            )
        )
    $$,
    'ODS01',
    'document does not match the schema of version 4.1 (4 errors)',
    'a document that breaks the schema in four places is refused with ODS01'
);
select results_eq(
    $$
        select state, pg_temp.pointers_of(detail)
        from pg_temp.error_of($sql$
            select odl.odl_create_document(
                current_setting('fixture.project_a'),
                jsonb_set(
                    jsonb_set(
                        jsonb_set(
                            jsonb_set(current_setting('fixture.doc')::jsonb, '{hierarchy,level}', '"GALAXY"'),
                            '{meta,domain}', '"SPACE"'
                        ),
                        '{instances,0,location,lat}', '91'
                    ),
                    '{connections,0,kind}', '"dc"'
                )
            )
        $sql$)
    $$,
    $$
        values (
            'ODS01',
            array['/connections/0/kind', '/hierarchy/level', '/instances/0/location/lat', '/meta/domain']
        )
    $$,
    'the ODS01 detail names every failing pointer'
);
select throws_ok(
    $$
        select odl.odl_create_document(
            current_setting('fixture.project_a'), current_setting('fixture.doc')::jsonb || '{"extra": true}'
        )
    $$,
    'ODS01',
    'document does not match the schema of version 4.1 (1 error)',
    'a top-level key that is no section is refused with ODS01, before any right is checked'
);
select throws_ok(
    $$
        select odl.odl_create_document(
            current_setting('fixture.project_a'), current_setting('fixture.doc')::jsonb || '{"schema_version": "9.9"}'
        )
    $$,
    'ODS02',
    'document violates the integrity rules (1 error)',
    'an unsupported schema_version is refused with ODS02'
);
select throws_ok(
    $$
        select odl.odl_create_document(
            current_setting('fixture.project_a'),
            jsonb_set(current_setting('fixture.doc')::jsonb, '{connections,0,to,instance_id}', '"TX-99"')
        )
    $$,
    'ODS02',
    'document violates the integrity rules (1 error)',
    'a connection to an instance that does not exist is refused with ODS02'
);
select throws_ok(
    $$
        select odl.odl_create_document(
            current_setting('fixture.project_a'),
            jsonb_insert(
                current_setting('fixture.doc')::jsonb, '{instances,2}',
                '{"id": "TX-01", "type_ref": "CMP:Ostwind:MVT-4000:4000000:B"}'
            )
        )
    $$,
    'ODS02',
    'document violates the integrity rules (1 error)',
    'a duplicate instance id is refused with ODS02'
);
select results_eq(
    $$
        select e.state, pg_temp.pointers_of(e.detail)
        from
            (
                values
                (1, current_setting('fixture.doc')::jsonb || '{"schema_version": "9.9"}'),
                (2, jsonb_set(current_setting('fixture.doc')::jsonb, '{connections,0,to,instance_id}', '"TX-99"')),
                (
                    3,
                    jsonb_insert(
                        current_setting('fixture.doc')::jsonb, '{instances,2}',
                        '{"id": "TX-01", "type_ref": "CMP:Ostwind:MVT-4000:4000000:B"}'
                    )
                ),
                (
                    4,
                    jsonb_insert(
                        jsonb_set(current_setting('fixture.doc')::jsonb, '{connections,0,to,instance_id}', '"TX-99"'),
                        '{instances,2}', '{"id": "INV-01", "type_ref": "CMP:Volta:VSI-250:250000:A"}'
                    )
                )
            ) as c (n, doc)
        cross join lateral pg_temp.error_of(
            format(
                'select odl.odl_create_document(%L, %L::jsonb)', current_setting('fixture.project_a'), c.doc
            )
        ) as e
        order by c.n
    $$,
    $$
        values
        ('ODS02', array['/schema_version']),
        ('ODS02', array['/connections/0/to/instance_id']),
        ('ODS02', array['/instances/2/id']),
        ('ODS02', array['/connections/0/to/instance_id', '/instances/2/id'])
    $$,
    'each ODS02 detail names its failing pointers: schema_version, the dangling end, the duplicate id, or all'
);
select results_eq(
    $$select count(*)::int from odl.odl_document_heads()$$,
    array[1],
    'the refused documents left nothing behind'
);

-- odl_app reads and writes documents only through the API.

select throws_ok(
    $$select * from odl.odl_documents$$,
    '42501',
    'permission denied for table odl_documents',
    'odl_app cannot read odl_documents directly'
);
select throws_ok(
    $$select * from odl.odl_patches$$,
    '42501',
    'permission denied for table odl_patches',
    'odl_app cannot read odl_patches directly'
);

-- odl_apply_patch(): version 2 adds an inverter and its connection, with
-- intent, evidence and tool version.

do $$
declare
    outcome record;
begin
    select * into strict outcome
    from odl.odl_apply_patch(
        current_setting('fixture.doc_id'),
        $patch$[
            {"op": "replace", "path": "/meta/project", "value": "Solar A phase 2"},
            {"op": "add", "path": "/instances/-", "value": {
                "id": "INV-02", "type_ref": "CMP:Volta:VSI-250:250000:A", "parent_ref": "BLOCK-02",
                "lifecycle_status": "planned"
            }},
            {"op": "add", "path": "/connections/-", "value": {
                "id": "C-02", "kind": "ac_power",
                "from": {"instance_id": "INV-02", "port_id": "ac_out"},
                "to": {"instance_id": "TX-01", "port_id": "lv_in"}
            }}
        ]$patch$,
        1,
        'add inverter 2',
        array['https://evidence.example/sld-rev-b.pdf', 'https://evidence.example/rfi-12'],
        'odl-designer 1.4.0'
    );
    perform set_config('fixture.outcome_2', to_jsonb(outcome)::text, true);
end
$$;
select is(
    (current_setting('fixture.outcome_2')::jsonb ->> 'version')::int, 2, 'odl_apply_patch() returns version 2'
);
select results_eq(
    $$
        select r ->> 'outcome', r ->> 'change_id'
        from (select current_setting('fixture.outcome_2')::jsonb as r) as o
    $$,
    $$values ('applied', null)$$,
    'a super_user''s patch of meta, instances and connections is applied at once, as no change request'
);
select is(
    pg_temp.document_of(current_setting('fixture.doc_id')) #>> '{meta,project}',
    'Solar A phase 2',
    'the patch is applied to the current document'
);
select is(
    current_setting('fixture.outcome_2')::jsonb ->> 'doc_hash',
    odl.odl_content_hash(pg_temp.document_of(current_setting('fixture.doc_id'))),
    'odl_apply_patch() returns the content hash of the new document'
);
select is(
    current_setting('fixture.outcome_2')::jsonb -> 'document',
    'null'::jsonb,
    'odl_apply_patch() returns no document unless it is a dry run'
);
select is(
    odl.odl_jsonpatch_apply(
        pg_temp.document_of(current_setting('fixture.doc_id')),
        current_setting('fixture.outcome_2')::jsonb -> 'inverse_patch'
    ),
    current_setting('fixture.doc')::jsonb,
    'the returned inverse patch turns version 2 back into version 1'
);
select results_eq(
    $$
        select version, doc_hash
        from odl.odl_document_heads(current_setting('fixture.project_a'))
    $$,
    $$
        select 2, current_setting('fixture.outcome_2')::jsonb ->> 'doc_hash'
    $$,
    'odl_document_heads() shows version 2 and its hash'
);

reset role;
select results_eq(
    $$
        select
            p.from_version, p.to_version, p.intent, p.evidence_uris, p.tool_version, p.dry_run,
            p.inverse_patch = current_setting('fixture.outcome_2')::jsonb -> 'inverse_patch',
            jsonb_array_length(p.patch_json), p.created_by::text
        from odl.odl_patches as p
        where p.doc_id = current_setting('fixture.doc_id')
    $$,
    $$
        values (
            1, 2, 'add inverter 2',
            '["https://evidence.example/sld-rev-b.pdf", "https://evidence.example/rfi-12"]'::jsonb,
            'odl-designer 1.4.0', false, true, 3, current_setting('fixture.user_a')
        )
    $$,
    'storage: the patch is kept with its inverse, intent, evidence URIs, tool version and author'
);
select results_eq(
    $$
        select v.version, v.doc_hash, v.doc_json is null
        from odl.odl_document_versions as v
        where v.doc_id = current_setting('fixture.doc_id')
        order by v.version
    $$,
    $$
        values
        (1, odl.odl_content_hash(current_setting('fixture.doc')::jsonb), false),
        (2, current_setting('fixture.outcome_2')::jsonb ->> 'doc_hash', true)
    $$,
    'storage: version 2 is recorded with its hash and without a snapshot'
);
set local role odl_app;

-- A dry run returns the would-be document and writes nothing.

do $$
declare
    outcome record;
begin
    select * into strict outcome
    from odl.odl_apply_patch(
        current_setting('fixture.doc_id'),
        $patch$[
            {"op": "test", "path": "/meta/project", "value": "Solar A phase 2"},
            {"op": "replace", "path": "/instances/1/lifecycle_status", "value": "commissioned"}
        ]$patch$,
        2,
        'commission TX-01',
        dry_run => true
    );
    perform set_config('fixture.dry_run', to_jsonb(outcome)::text, true);
end
$$;
select results_eq(
    $$
        select
            (r ->> 'version')::int,
            r -> 'document' #>> '{instances,1,lifecycle_status}',
            r ->> 'doc_hash' = odl.odl_content_hash(r -> 'document'),
            odl.odl_jsonpatch_apply(r -> 'document', r -> 'inverse_patch') = pg_temp.document_of(
                current_setting('fixture.doc_id')
            ),
            r ->> 'outcome',
            r -> 'redacted'
        from (select current_setting('fixture.dry_run')::jsonb as r) as d
    $$,
    $$values (3, 'commissioned', true, true, 'applied', '[]'::jsonb)$$,
    'a dry run returns version 3, the would-be document (whole, for a super_user), its hash and the inverse'
);
select results_eq(
    $$select version, doc_hash from odl.odl_document_heads(current_setting('fixture.project_a'))$$,
    $$select 2, current_setting('fixture.outcome_2')::jsonb ->> 'doc_hash'$$,
    'after a dry run the document is still at version 2'
);
reset role;
select results_eq(
    $$
        select
            (select count(*)::int from odl.odl_document_versions where doc_id = current_setting('fixture.doc_id')),
            (select count(*)::int from odl.odl_patches where doc_id = current_setting('fixture.doc_id'))
    $$,
    $$values (2, 1)$$,
    'storage: a dry run adds no version and no patch'
);
set local role odl_app;
select results_eq(
    $$
        select version, doc_hash, document is null
        from odl.odl_apply_patch(
            current_setting('fixture.doc_id'),
            $patch$[
                {"op": "test", "path": "/meta/project", "value": "Solar A phase 2"},
                {"op": "replace", "path": "/instances/1/lifecycle_status", "value": "commissioned"}
            ]$patch$,
            2,
            'commission TX-01'
        )
    $$,
    $$values (3, current_setting('fixture.dry_run')::jsonb ->> 'doc_hash', true)$$,
    'applied for real, the same patch gives the version and hash that the dry run announced'
);
select lives_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'),
            (
                select jsonb_agg(jsonb_build_object('op', 'test', 'path', '/schema_version', 'value', '4.1'))
                from generate_series(1, 100)
            ),
            3,
            dry_run => true
        )
    $$,
    'a patch of 100 operations is accepted'
);

-- Every failure of odl_apply_patch(), on version 3. First the state to
-- compare with afterwards.

reset role;
do $$
begin
    perform set_config(
        'fixture.before_failures',
        (
            select jsonb_build_object(
                'doc', d.doc_json, 'version', d.version, 'hash', d.doc_hash,
                'versions', (select count(*) from odl.odl_document_versions as v where v.doc_id = d.doc_id),
                'patches', (select count(*) from odl.odl_patches as p where p.doc_id = d.doc_id)
            )::text
            from odl.odl_documents as d
            where d.doc_id = current_setting('fixture.doc_id')
        ),
        true
    );
end
$$;
set local role odl_app;

select throws_ok(
    $$select * from odl.odl_apply_patch(current_setting('fixture.doc_id'), '{"op": "remove", "path": "/meta"}', 3)$$,
    'ODP01',
    'a patch must be an array of operations',
    'a patch that is not an array is refused with ODP01'
);
select throws_ok(
    $$select * from odl.odl_apply_patch(current_setting('fixture.doc_id'), 'null', 3)$$,
    'ODP01',
    'a patch must be an array of operations',
    'a JSON null patch is refused with ODP01'
);
select throws_ok(
    $$select * from odl.odl_apply_patch(current_setting('fixture.doc_id'), '[[]]', 3)$$,
    'ODP01',
    'operation 0: not an object',
    'an operation that is not an object is refused with ODP01'
);
select throws_ok(
    $$select * from odl.odl_apply_patch(current_setting('fixture.doc_id'), '[{"op": "merge", "path": "/meta"}]', 3)$$,
    'ODP01',
    'operation 0: "op" is not one of add, remove, replace, move, copy, test',
    'an unknown op is refused with ODP01'
);
select throws_ok(
    $$select * from odl.odl_apply_patch(current_setting('fixture.doc_id'), '[{"op": "add", "path": "/meta/x"}]', 3)$$,
    'ODP01',
    'operation 0 (add): "value" is missing for path "/meta/x"',
    'an add without a value is refused with ODP01'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "add", "path": "a/b", "value": 1}]', 3
        )
    $$,
    'ODP01',
    'operation 0 (add): path "a/b" is not a json pointer: it does not start with "/"',
    'a pointer that does not start with / is refused with ODP01'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "add", "path": "/meta/a~2b", "value": 1}]', 3
        )
    $$,
    'ODP01',
    'operation 0 (add): path "/meta/a~2b" is not a json pointer: "~" is followed by neither 0 nor 1',
    'the escape ~2 is refused with ODP01'
);
select throws_ok(
    $$select * from odl.odl_apply_patch(current_setting('fixture.doc_id'), '[]', 3)$$,
    'ODP01',
    'a patch must have at least one operation',
    'an empty patch is refused with ODP01'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'),
            (
                select jsonb_agg(jsonb_build_object('op', 'test', 'path', '/schema_version', 'value', '4.1'))
                from generate_series(1, 101)
            ),
            3
        )
    $$,
    'ODP02',
    'the patch has 101 operations, more than the limit of 100',
    'a patch of 101 operations is refused with ODP02'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'),
            '[{"op": "test", "path": "/schema_version", "value": "4.1"}, {"op": "remove", "path": "/meta/nope"}]',
            3
        )
    $$,
    'ODP03',
    'operation 1 (remove): path "/meta/nope" does not exist',
    'a path that does not exist is refused with ODP03, naming the operation and the pointer'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "test", "path": "/schema_version", "value": "4.0"}]', 3
        )
    $$,
    'ODP04',
    'operation 0 (test): the value at path "/schema_version" differs from the tested value',
    'a failed test is refused with ODP04'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "replace", "path": "/meta/domain", "value": "SPACE"}]', 3
        )
    $$,
    'ODS01',
    'document does not match the schema of version 4.1 (1 error)',
    'a patch whose result breaks the schema is refused with ODS01'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "remove", "path": "/instances/1"}]', 3
        )
    $$,
    'ODS02',
    'document violates the integrity rules (2 errors)',
    'removing an instance that connections still name is refused with ODS02'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "test", "path": "/schema_version", "value": "4.1"}]', 2
        )
    $$,
    'ODV01',
    'version conflict',
    'a stale expected_version is refused with ODV01'
);
select results_eq(
    $$
        select state, detail::jsonb
        from pg_temp.error_of($sql$
            select * from odl.odl_apply_patch(
                current_setting('fixture.doc_id'), '[{"op": "test", "path": "/schema_version", "value": "4.1"}]', 1,
                dry_run => true
            )
        $sql$)
    $$,
    $$
        values (
            'ODV01',
            jsonb_build_object('doc_id', current_setting('fixture.doc_id'), 'expected_version', 1, 'current_version', 3)
        )
    $$,
    'the ODV01 detail gives the expected and the current version, on a dry run too'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "test", "path": "/schema_version", "value": "4.1"}]', null
        )
    $$,
    '22004',
    'expected_version is required',
    'a null expected_version is refused with 22004'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            '01ARYZ6S41TSV4RRFFQ69G5FAV', '[{"op": "test", "path": "/schema_version", "value": "4.1"}]', 1
        )
    $$,
    'ODD01',
    'document does not exist',
    'a patch of an unknown document is refused with ODD01'
);

reset role;
select results_eq(
    $$
        select jsonb_build_object(
            'doc', d.doc_json, 'version', d.version, 'hash', d.doc_hash,
            'versions', (select count(*) from odl.odl_document_versions as v where v.doc_id = d.doc_id),
            'patches', (select count(*) from odl.odl_patches as p where p.doc_id = d.doc_id)
        )
        from odl.odl_documents as d
        where d.doc_id = current_setting('fixture.doc_id')
    $$,
    $$select current_setting('fixture.before_failures')::jsonb$$,
    'storage: the failed patches left the document, its versions and its patches untouched'
);
set local role odl_app;

-- Without a context, the writing API refuses with ODC01 and reads show
-- nothing.

select odl.odl_clear_context();
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "test", "path": "/schema_version", "value": "4.1"}]', 3
        )
    $$,
    'ODC01',
    'no tenant context is set',
    'odl_apply_patch() without a context raises ODC01'
);
select throws_ok(
    $$select * from odl.odl_revert_document(current_setting('fixture.doc_id'), 1, 3)$$,
    'ODC01',
    'no tenant context is set',
    'odl_revert_document() without a context raises ODC01'
);
select throws_ok(
    $$select * from odl.odl_get_document(current_setting('fixture.doc_id'))$$,
    'ODC01',
    'no tenant context is set',
    'odl_get_document() without a context raises ODC01: a read is decided by the reader''s rights'
);
select is_empty(
    $$select * from odl.odl_document_heads()$$,
    'without a context odl_document_heads() lists nothing'
);
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'))$$,
    'setup: odl_app takes tenant A''s context again'
);

-- Past versions. Versions 4 to 150 change the project name, a number,
-- the hierarchy (add at "-", remove, move) and copy a location, so that
-- version 100 is a snapshot and any version is rebuilt from the nearest
-- snapshot forwards or from the current version backwards.

do $$
declare
    patch jsonb;
begin
    for n in 4..150 loop
        patch := jsonb_build_array(
            jsonb_build_object('op', 'replace', 'path', '/meta/project', 'value', 'Solar A v' || n),
            jsonb_build_object('op', 'replace', 'path', '/instances/0/location/lat', 'value', 40 + n / 100.0)
        );
        if n % 3 = 0 then
            patch := patch || jsonb_build_object(
                'op', 'add', 'path', '/hierarchy/children/-',
                'value', jsonb_build_object('id', 'BLOCK-' || n, 'level', 'BLOCK')
            );
        end if;
        if n % 5 = 0 then
            patch := patch || jsonb_build_object('op', 'remove', 'path', '/hierarchy/children/1');
        end if;
        if n % 11 = 0 then
            patch := patch || jsonb_build_object(
                'op', 'move', 'from', '/hierarchy/children/0', 'path', '/hierarchy/children/-'
            );
        end if;
        if n % 14 = 7 then
            patch := patch || jsonb_build_object(
                'op', 'copy', 'from', '/instances/0/location', 'path', '/instances/1/location'
            );
        elsif n % 14 = 0 then
            patch := patch || jsonb_build_object('op', 'remove', 'path', '/instances/1/location');
        end if;
        perform odl.odl_apply_patch(current_setting('fixture.doc_id'), patch, n - 1, format('step %s', n));
    end loop;
end
$$;

select results_eq(
    $$select version from odl.odl_document_heads(current_setting('fixture.project_a'))$$,
    array[150],
    'setup: the document is at version 150'
);

reset role;
select results_eq(
    $$
        select v.version
        from odl.odl_document_versions as v
        where v.doc_id = current_setting('fixture.doc_id') and v.doc_json is not null
        order by v.version
    $$,
    array[1, 100],
    'storage: versions 1 and 100 hold full snapshots, no other'
);
-- The superuser reads the stored hashes; odl_get_document() runs as its
-- owner under tenant A's context, which this backend still holds.
select results_eq(
    $$
        select w.v, pg_temp.hash_at(current_setting('fixture.doc_id'), w.v)
        from unnest(array[1, 50, 99, 100, 101, 150]) as w (v)
        order by w.v
    $$,
    $$
        select v.version, v.doc_hash
        from odl.odl_document_versions as v
        where v.doc_id = current_setting('fixture.doc_id') and v.version in (1, 50, 99, 100, 101, 150)
        order by v.version
    $$,
    'versions 1, 50, 99, 100, 101 and 150 are rebuilt exactly '
    || '(snapshot, forwards, backwards, snapshot, forwards, current)'
);
select is_empty(
    $$
        select v.version
        from odl.odl_document_versions as v
        where v.doc_id = current_setting('fixture.doc_id')
            and pg_temp.hash_at(v.doc_id, v.version) <> v.doc_hash
    $$,
    'every one of the 150 versions is rebuilt with its recorded hash'
);
set local role odl_app;

select is(
    pg_temp.document_of(current_setting('fixture.doc_id'), null),
    pg_temp.document_of(current_setting('fixture.doc_id'), 150),
    'odl_get_document() with a null version returns the current version'
);
select is(
    pg_temp.document_of(current_setting('fixture.doc_id'), 2) #>> '{meta,project}',
    'Solar A phase 2',
    'odl_app reads a past version'
);
select throws_ok(
    $$select * from odl.odl_get_document(current_setting('fixture.doc_id'), 151)$$,
    'ODD03',
    'document version does not exist',
    'a version after the current one is refused with ODD03'
);
select throws_ok(
    $$select * from odl.odl_get_document(current_setting('fixture.doc_id'), 0)$$,
    'ODD03',
    'document version does not exist',
    'version 0 is refused with ODD03'
);
select results_eq(
    $$
        select state, detail
        from pg_temp.error_of(
            format('select * from odl.odl_get_document(%L, 151)', current_setting('fixture.doc_id'))
        )
    $$,
    $$values ('ODD03', format('doc_id %s has versions 1 to 150, not 151', current_setting('fixture.doc_id')))$$,
    'the ODD03 detail gives the versions that exist'
);
select throws_ok(
    $$select * from odl.odl_get_document('01ARYZ6S41TSV4RRFFQ69G5FAV')$$,
    'ODD01',
    'document does not exist',
    'an unknown document is refused with ODD01'
);

-- odl_revert_document(): version 151 equals version 50, and is recorded as
-- a patch (the later inverses, over 100 operations) like any other.

select results_eq(
    $$
        select version, document is null, outcome, change_id
        from odl.odl_revert_document(current_setting('fixture.doc_id'), 50, 150)
    $$,
    $$values (151, true, 'applied', null::text)$$,
    'odl_revert_document() to version 50 makes version 151'
);
reset role;
select results_eq(
    $$
        select v.version, v.doc_hash
        from odl.odl_document_versions as v
        where v.doc_id = current_setting('fixture.doc_id') and v.version = 151
        union all
        select 151, odl.odl_content_hash(d.doc_json)
        from odl.odl_documents as d
        where d.doc_id = current_setting('fixture.doc_id')
    $$,
    $$
        select 151, v.doc_hash
        from odl.odl_document_versions as v, generate_series(1, 2)
        where v.doc_id = current_setting('fixture.doc_id') and v.version = 50
    $$,
    'storage: version 151 and the current document are hash-identical to version 50'
);
select results_eq(
    $$
        select p.from_version, p.intent, jsonb_array_length(p.patch_json) > 100, p.created_by::text
        from odl.odl_patches as p
        where p.doc_id = current_setting('fixture.doc_id') and p.to_version = 151
    $$,
    $$values (150, 'revert to version 50', true, current_setting('fixture.user_a'))$$,
    'storage: the revert is a patch with intent ''revert to version 50'''
);
set local role odl_app;

-- A patch that only tests changes nothing, and is recorded all the same,
-- as version 152 with an empty inverse.
do $$
begin
    perform set_config(
        'fixture.hash_151',
        (select doc_hash from odl.odl_document_heads(current_setting('fixture.project_a'))),
        true
    );
end
$$;
select results_eq(
    $$
        select version, doc_hash, inverse_patch, outcome
        from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "test", "path": "/schema_version", "value": "4.1"}]', 151,
            'check the schema version'
        )
    $$,
    $$values (152, current_setting('fixture.hash_151'), '[]'::jsonb, 'applied')$$,
    'a patch that only tests makes version 152, equal to 151, with an empty inverse'
);
select results_eq(
    $$select intent, operations from odl.odl_document_history(current_setting('fixture.doc_id')) where version = 152$$,
    $$values ('check the schema version', 1)$$,
    'the patch that only tests is recorded with its intent'
);
select is(
    pg_temp.hash_at(current_setting('fixture.doc_id'), 151),
    (select doc_hash from odl.odl_document_heads(current_setting('fixture.project_a'))),
    'version 151 is still rebuilt after a patch that only tests (whose inverse is empty)'
);
-- A revert to the current version changes nothing, and is recorded all the
-- same, as a patch that only tests the schema version (rights on meta).
select results_eq(
    $$select version, doc_hash, outcome from odl.odl_revert_document(current_setting('fixture.doc_id'), 152, 152)$$,
    $$values (153, current_setting('fixture.hash_151'), 'applied')$$,
    'a revert to the current version makes version 153, equal to 152'
);
select results_eq(
    $$select intent, operations from odl.odl_document_history(current_setting('fixture.doc_id')) where version = 153$$,
    $$values ('revert to version 152', 1)$$,
    'the revert to the current version is recorded with its intent'
);
select throws_ok(
    $$select * from odl.odl_revert_document(current_setting('fixture.doc_id'), 1, 150)$$,
    'ODV01',
    'version conflict',
    'a revert with a stale expected_version is refused with ODV01'
);
select throws_ok(
    $$select * from odl.odl_revert_document(current_setting('fixture.doc_id'), 154, 153)$$,
    'ODD03',
    'document version does not exist',
    'a revert to a version that does not exist is refused with ODD03'
);
select throws_ok(
    $$select * from odl.odl_revert_document('01ARYZ6S41TSV4RRFFQ69G5FAV', 1, 1)$$,
    'ODD01',
    'document does not exist',
    'a revert of an unknown document is refused with ODD01'
);

-- odl_document_heads() and odl_document_history().

do $$
begin
    perform set_config(
        'fixture.doc_id_2',
        odl.odl_create_document(
            current_setting('fixture.project_a2'),
            jsonb_set(current_setting('fixture.doc')::jsonb, '{meta,project}', '"Wind A"')
        ),
        true
    );
end
$$;
select results_eq(
    $$select doc_id, project_id, version from odl.odl_document_heads() order by doc_id collate "C"$$,
    $$
        values
        (current_setting('fixture.doc_id'), current_setting('fixture.project_a'), 153),
        (current_setting('fixture.doc_id_2'), current_setting('fixture.project_a2'), 1)
    $$,
    'odl_document_heads() lists every document of the tenant with its version'
);
select results_eq(
    $$select doc_id, version, doc_hash from odl.odl_document_heads(current_setting('fixture.project_a2'))$$,
    $$
        values (
            current_setting('fixture.doc_id_2'), 1,
            odl.odl_content_hash(pg_temp.document_of(current_setting('fixture.doc_id_2')))
        )
    $$,
    'odl_document_heads(project_id) lists the documents of that project only, with their hash'
);
select results_eq(
    $$
        select version, intent, tool_version, evidence_uris, operations
        from odl.odl_document_history(current_setting('fixture.doc_id'))
        where version <= 3
    $$,
    $$
        values
        (1, null, null, null, null),
        (
            2, 'add inverter 2', 'odl-designer 1.4.0',
            '["https://evidence.example/sld-rev-b.pdf", "https://evidence.example/rfi-12"]'::jsonb, 3
        ),
        (3, 'commission TX-01', null, '[]'::jsonb, 2)
    $$,
    'odl_document_history() lists each version with the intent, tool, evidence and size of its patch'
);

-- Tenant isolation: tenant B can neither see nor change A's documents.

reset role;
do $$
begin
    perform set_config(
        'fixture.before_b',
        (select doc_hash || '@' || version from odl.odl_documents where doc_id = current_setting('fixture.doc_id')),
        true
    );
end
$$;
set local role odl_app;
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'))$$,
    'setup: odl_app takes tenant B''s context'
);
select throws_ok(
    $$select * from odl.odl_get_document(current_setting('fixture.doc_id'))$$,
    'ODD01',
    'document does not exist',
    'tenant B cannot read A''s document'
);
select throws_ok(
    $$select * from odl.odl_get_document(current_setting('fixture.doc_id'), 1)$$,
    'ODD01',
    'document does not exist',
    'tenant B cannot read a past version of A''s document'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "replace", "path": "/meta/project", "value": "Mine"}]', 152
        )
    $$,
    'ODD01',
    'document does not exist',
    'tenant B cannot patch A''s document'
);
select throws_ok(
    $$
        select * from odl.odl_apply_patch(
            current_setting('fixture.doc_id'), '[{"op": "replace", "path": "/meta/project", "value": "Mine"}]', 152,
            dry_run => true
        )
    $$,
    'ODD01',
    'document does not exist',
    'tenant B cannot dry-run a patch on A''s document (which would reveal it)'
);
select throws_ok(
    $$select * from odl.odl_revert_document(current_setting('fixture.doc_id'), 1, 152)$$,
    'ODD01',
    'document does not exist',
    'tenant B cannot revert A''s document'
);
select throws_ok(
    $$select odl.odl_create_document(current_setting('fixture.project_a'), current_setting('fixture.doc')::jsonb)$$,
    'ODD02',
    'project does not exist',
    'tenant B cannot create a document in A''s project'
);
select is_empty($$select * from odl.odl_document_heads()$$, 'tenant B sees no document heads of A');
select is_empty(
    $$select * from odl.odl_document_history(current_setting('fixture.doc_id'))$$,
    'tenant B sees no history of A''s document'
);
do $$
begin
    perform set_config(
        'fixture.doc_id_b',
        odl.odl_create_document(current_setting('fixture.project_b'), current_setting('fixture.doc')::jsonb),
        true
    );
end
$$;
select results_eq(
    $$select doc_id, version from odl.odl_document_heads()$$,
    $$values (current_setting('fixture.doc_id_b'), 1)$$,
    'tenant B creates in its own project and sees only its own document'
);
reset role;
select is(
    (select doc_hash || '@' || version from odl.odl_documents where doc_id = current_setting('fixture.doc_id')),
    current_setting('fixture.before_b'),
    'storage: A''s document is unchanged by tenant B''s attempts'
);

-- The ledger: every node, attachment, assignment, project, document and
-- applied patch of tenant A, each by the user who acted; the refused writes
-- above left no event.
select set_eq(
    $$
        select e.action, e.actor_id::text, count(*)::int as events, count(distinct e.doc_id)::int as documents
        from odl.audit_events as e
        where e.tenant_id = current_setting('fixture.tenant_a') and e.action <> 'user.created'
        group by e.action, e.actor_id
    $$,
    $$
        values
        ('tenant.created', null, 1, 0),
        ('node.created', current_setting('fixture.admin_a'), 1, 0),
        ('project.attached', current_setting('fixture.admin_a'), 2, 0),
        ('role.assigned', current_setting('fixture.admin_a'), 1, 0),
        ('project.created', current_setting('fixture.user_a'), 2, 0),
        (
            'document.created', current_setting('fixture.user_a'),
            (select count(*)::int from odl.odl_documents where tenant_id = current_setting('fixture.tenant_a')),
            (select count(*)::int from odl.odl_documents where tenant_id = current_setting('fixture.tenant_a'))
        ),
        (
            'patch.applied', current_setting('fixture.user_a'),
            (select count(*)::int from odl.odl_patches where tenant_id = current_setting('fixture.tenant_a')),
            1
        )
    $$,
    'the ledger holds one event per node, attachment, assignment, project, document and applied patch, '
    || 'by the user who acted'
);
select results_eq(
    $$
        select (e.payload ->> 'to_version')::int, e.payload ->> 'doc_hash', e.payload ->> 'patch_hash', e.project_id::text
        from odl.audit_events as e
        where e.tenant_id = current_setting('fixture.tenant_a') and e.action = 'patch.applied'
        order by e.seq
    $$,
    $$
        select p.to_version, v.doc_hash, odl.odl_content_hash(p.patch_json), current_setting('fixture.project_a')
        from odl.odl_patches as p
        inner join odl.odl_document_versions as v using (tenant_id, doc_id)
        where p.tenant_id = current_setting('fixture.tenant_a') and v.version = p.to_version
        order by p.to_version
    $$,
    'each patch.applied event names its version, the resulting hash, the patch''s hash and the project'
);
set local role odl_app;

-- The pure RFC 6902 engine: odl_jsonpatch_apply() and odl_jsonpatch_inverse().

select is(
    odl.odl_jsonpatch_apply('{"a": [1, 2]}', '[{"op": "add", "path": "/a/-", "value": 3}]'),
    '{"a": [1, 2, 3]}'::jsonb,
    'add at "-" appends to an array'
);
select is(
    odl.odl_jsonpatch_apply(
        '{"a": [1, 2, 3]}', odl.odl_jsonpatch_inverse('{"a": [1, 2]}', '[{"op": "add", "path": "/a/-", "value": 3}]')
    ),
    '{"a": [1, 2]}'::jsonb,
    'the inverse of an add at "-" removes the appended element'
);
select is(
    odl.odl_jsonpatch_apply(
        '{"a": [2, 3, 1]}',
        odl.odl_jsonpatch_inverse('{"a": [1, 2, 3]}', '[{"op": "move", "from": "/a/0", "path": "/a/-"}]')
    ),
    '{"a": [1, 2, 3]}'::jsonb,
    'the inverse of a move to "-" moves the element back'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": [1]}', '[{"op": "remove", "path": "/a/-"}]')$$,
    'ODP03',
    'operation 0 (remove): path "/a/-" does not exist',
    '"-" names no existing element, so remove at "-" is refused with ODP03'
);
select is(
    odl.odl_jsonpatch_apply(
        '{"a/b": 1, "m~n": 2}',
        '[{"op": "replace", "path": "/a~1b", "value": 10}, {"op": "remove", "path": "/m~0n"}]'
    ),
    '{"a/b": 10}'::jsonb,
    '~1 stands for / and ~0 for ~ in a pointer'
);
select is(
    odl.odl_jsonpatch_apply('{"a": 1}', '[{"op": "replace", "path": "", "value": [1]}]'),
    '[1]'::jsonb,
    'the empty pointer names the whole document: replace "" replaces it'
);
select is(
    odl.odl_jsonpatch_apply(
        '[1]', odl.odl_jsonpatch_inverse('{"a": 1}', '[{"op": "replace", "path": "", "value": [1]}]')
    ),
    '{"a": 1}'::jsonb,
    'the inverse of replacing the whole document restores it'
);
select is(
    odl.odl_jsonpatch_apply('{"a": {"b": [1]}}', '[{"op": "test", "path": "", "value": {"a": {"b": [1]}}}]'),
    '{"a": {"b": [1]}}'::jsonb,
    'test "" compares the whole document'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": 1}', '[{"op": "remove", "path": ""}]')$$,
    'ODP01',
    'operation 0 (remove): path "" would remove the whole document',
    'removing the whole document is refused with ODP01'
);
select is(
    odl.odl_jsonpatch_apply('{"a": 1}', '[{"op": "add", "path": "/", "value": 9}]'),
    '{"": 9, "a": 1}'::jsonb,
    'the pointer "/" names the member "" (not the whole document)'
);
select is(
    odl.odl_jsonpatch_apply('{"": {"": 1}}', '[{"op": "test", "path": "//", "value": 1}]'),
    '{"": {"": 1}}'::jsonb,
    'the pointer "//" names the member "" of the member ""'
);
select results_eq(
    $$
        select odl.odl_jsonpatch_apply(d::jsonb, p::jsonb)
        from (
            values
            (1, '{"a": 1}', '[{"op": "test", "path": "/a", "value": 1.0}]'),
            (2, '{"a": 1.0}', '[{"op": "test", "path": "/a", "value": 1}]'),
            (3, '{"a": 100}', '[{"op": "test", "path": "/a", "value": 1e2}]'),
            (4, '{"a": [1, 2.50]}', '[{"op": "test", "path": "/a", "value": [1.0, 2.5]}]'),
            (5, '{"a": {"x": 1, "y": 2}}', '[{"op": "test", "path": "/a", "value": {"y": 2.0, "x": 1}}]')
        ) as t (n, d, p)
        order by n
    $$,
    $$
        values
        ('{"a": 1}'::jsonb), ('{"a": 1.0}'::jsonb), ('{"a": 100}'::jsonb),
        ('{"a": [1, 2.50]}'::jsonb), ('{"a": {"x": 1, "y": 2}}'::jsonb)
    $$,
    'test compares numbers by value (1 = 1.0 = 1e0), in arrays and objects too, and ignores member order'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": 1}', '[{"op": "test", "path": "/a", "value": true}]')$$,
    'ODP04',
    'operation 0 (test): the value at path "/a" differs from the tested value',
    'test: 1 is not true'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": false}', '[{"op": "test", "path": "/a", "value": 0}]')$$,
    'ODP04',
    'operation 0 (test): the value at path "/a" differs from the tested value',
    'test: false is not 0'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": "1"}', '[{"op": "test", "path": "/a", "value": 1}]')$$,
    'ODP04',
    'operation 0 (test): the value at path "/a" differs from the tested value',
    'test: "1" is not 1'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": [1, 2]}', '[{"op": "test", "path": "/a", "value": [2, 1]}]')$$,
    'ODP04',
    'operation 0 (test): the value at path "/a" differs from the tested value',
    'test: array order matters'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": 1}', '[{"op": "test", "path": "/b", "value": 1}]')$$,
    'ODP04',
    'operation 0 (test): path "/b" does not exist',
    'test of a path that does not exist fails with ODP04'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": {"b": 1}}', '[{"op": "move", "from": "/a", "path": "/a/b/c"}]')$$,
    'ODP01',
    'operation 0 (move): path "/a/b/c" is inside from "/a"',
    'moving a value into its own child is refused with ODP01'
);
select is(
    odl.odl_jsonpatch_apply('{"a": {"b": 1}}', '[{"op": "move", "from": "/a", "path": "/a"}]'),
    '{"a": {"b": 1}}'::jsonb,
    'moving a value onto itself changes nothing'
);
select is(
    odl.odl_jsonpatch_apply('{"ab": 1}', '[{"op": "move", "from": "/ab", "path": "/a"}]'),
    '{"a": 1}'::jsonb,
    'a path that merely starts with the same characters as from is not its child'
);
select is(
    odl.odl_jsonpatch_apply('{"a": [1, 2]}', '[{"op": "add", "path": "/a/2", "value": 9}]'),
    '{"a": [1, 2, 9]}'::jsonb,
    'add at the index equal to the array''s length appends'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": [1, 2]}', '[{"op": "add", "path": "/a/3", "value": 9}]')$$,
    'ODP03',
    'operation 0 (add): path "/a/3" is beyond the end of the array',
    'add beyond the end of an array is refused with ODP03'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": [1, 2]}', '[{"op": "replace", "path": "/a/2", "value": 9}]')$$,
    'ODP03',
    'operation 0 (replace): path "/a/2" does not exist',
    'replace at an index out of bounds is refused with ODP03'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": [1, 2]}', '[{"op": "add", "path": "/a/01", "value": 9}]')$$,
    'ODP03',
    'operation 0 (add): path "/a/01" does not exist: "01" is not an array index',
    'an array index with a leading zero is refused with ODP03'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": [1, 2]}', '[{"op": "remove", "path": "/a/01"}]')$$,
    'ODP03',
    'operation 0 (remove): path "/a/01" does not exist',
    'remove at /a/01 does not mean /a/1'
);
select is(
    odl.odl_jsonpatch_apply('{"a": {"01": 1}}', '[{"op": "replace", "path": "/a/01", "value": 9}]'),
    '{"a": {"01": 9}}'::jsonb,
    'on an object, "01" is an ordinary member name'
);
select throws_ok(
    $$select odl.odl_jsonpatch_apply('{"a": 1}', '[{"op": "add", "path": "/b/c", "value": 1}]')$$,
    'ODP03',
    'operation 0 (add): the parent of path "/b/c" does not exist',
    'add under a parent that does not exist is refused with ODP03'
);
select is(
    odl.odl_jsonpatch_apply(
        '{"a": {"b": 1}}', '[{"op": "copy", "from": "/a", "path": "/c"}, {"op": "replace", "path": "/c/b", "value": 2}]'
    ),
    '{"a": {"b": 1}, "c": {"b": 2}}'::jsonb,
    'a copy is independent of its source: changing the copy leaves the source alone'
);
select is(
    odl.odl_jsonpatch_apply(
        '{"c": {"b": 2}}',
        odl.odl_jsonpatch_inverse(
            '{"a": {"b": 1}, "c": 5}',
            '[{"op": "move", "from": "/a", "path": "/c"}, {"op": "replace", "path": "/c/b", "value": 2}]'
        )
    ),
    '{"a": {"b": 1}, "c": 5}'::jsonb,
    'the inverse of a move onto an existing member restores both the moved and the displaced value'
);
select is(
    odl.odl_jsonpatch_apply(
        '{}',
        (
            select jsonb_agg(jsonb_build_object('op', 'add', 'path', '/k' || n, 'value', n))
            from generate_series(1, 150) as n
        )
    ) -> 'k150',
    '150'::jsonb,
    'the pure engine has no limit on the number of operations'
);
do $$
begin
    perform set_config(
        'fixture.every_op',
        $patch$[
            {"op": "add", "path": "/hierarchy/children/0", "value": {"id": "BLOCK-00", "level": "BLOCK"}},
            {"op": "remove", "path": "/instances/0/location/lon"},
            {"op": "replace", "path": "/meta/units", "value": {"power": "kW"}},
            {"op": "move", "from": "/meta/timestamps", "path": "/meta/versioning/timestamps"},
            {"op": "copy", "from": "/instances/1", "path": "/instances/-"},
            {"op": "test", "path": "/instances/2/id", "value": "TX-01"},
            {"op": "replace", "path": "", "value": {"wrapped": true}},
            {"op": "add", "path": "/wrapped~1again", "value": [0]}
        ]$patch$,
        true
    );
end
$$;
select is(
    odl.odl_content_hash(
        odl.odl_jsonpatch_apply(
            odl.odl_jsonpatch_apply(current_setting('fixture.doc')::jsonb, current_setting('fixture.every_op')::jsonb),
            odl.odl_jsonpatch_inverse(current_setting('fixture.doc')::jsonb, current_setting('fixture.every_op')::jsonb)
        )
    ),
    odl.odl_content_hash(current_setting('fixture.doc')::jsonb),
    'applying the inverse of a patch of every kind of operation restores the document''s hash'
);

-- pg_jsonschema's SQL API: draft 2020-12, callable by odl_app.

select function_returns('public', 'json_matches_schema', array['json', 'json'], 'boolean');
select function_returns('public', 'jsonb_matches_schema', array['json', 'jsonb'], 'boolean');
select function_returns('public', 'jsonschema_is_valid', array['json'], 'boolean');
select function_returns('public', 'jsonschema_validation_errors', array['json', 'json'], 'text[]');

select results_eq(
    $$
        select
            json_matches_schema('{"type": "object", "required": ["a"]}', '{"a": 1}'),
            json_matches_schema('{"type": "object", "required": ["a"]}', '{"b": 1}'),
            jsonb_matches_schema('{"type": "integer"}', '1.0'),
            jsonb_matches_schema('{"type": "integer"}', '1.5')
    $$,
    $$values (true, false, true, false)$$,
    'json_matches_schema() and jsonb_matches_schema() tell valid from invalid instances (1.0 is an integer)'
);
select results_eq(
    $$
        select
            jsonschema_is_valid('{"type": "object", "properties": {"a": {"minimum": 0}}}'),
            jsonschema_is_valid('{"type": "objekt"}'),
            jsonschema_is_valid('{"minLength": -1}')
    $$,
    $$values (true, false, false)$$,
    'jsonschema_is_valid() checks a schema against the draft 2020-12 meta-schema'
);
select is(
    jsonschema_validation_errors(
        '{
            "$defs": {"positive": {"type": "integer", "minimum": 1}},
            "type": "object",
            "properties": {"n": {"$ref": "#/$defs/positive"}},
            "unevaluatedProperties": false
        }',
        '{"n": 0, "x": 1}'
    ),
    array['/n: must be >= 1', '/x: property is not allowed'],
    'jsonschema_validation_errors() follows $ref into $defs and applies unevaluatedProperties'
);
select is(
    jsonschema_validation_errors(
        '{"allOf": [{"properties": {"a": true}}], "unevaluatedProperties": false}', '{"a": 1, "b": 2}'
    ),
    array['/b: property is not allowed'],
    'unevaluatedProperties sees the properties evaluated inside allOf'
);
select is(
    jsonschema_validation_errors(
        '{"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false}',
        '["a", "b", 3]'
    ),
    array['/1: must be an integer', '/2: item is not allowed'],
    'jsonschema_validation_errors() applies prefixItems and items: false'
);
select is(
    jsonschema_validation_errors(
        '{"type": "object", "dependentRequired": {"credit_card": ["billing_address"]}}', '{"credit_card": 1}'
    ),
    array['(root): missing property "billing_address", required by dependentRequired'],
    'jsonschema_validation_errors() applies dependentRequired'
);
select results_eq(
    $$
        select
            jsonschema_validation_errors('{"type": "string", "format": "date-time"}', '"2026-13-01T00:00:00Z"'),
            jsonschema_validation_errors('{"type": "string", "format": "date-time"}', '"2026-12-01T00:00:00Z"')
    $$,
    $$values (array[]::text [], array[]::text [])$$,
    'format is an annotation, as in draft 2020-12 and pg_jsonschema: month 13 passes'
);
select is(
    json_matches_schema('{"type": "object"}', null),
    null,
    'json_matches_schema() is strict'
);

-- (A cancel itself, 57014, is one that no exception handler catches.)
reset role;
select throws_ok(
    $$select odl.raise_failure('54001', 'spiexceptions.StatementTooComplex: stack depth limit exceeded', null)$$,
    '54001', 'stack depth limit exceeded',
    'a failure passed on through PL/Python is raised without its class name'
);

select * from finish();
rollback;
