-- The component index and the status machine: their shape, RLS on the
-- index, who may read what, and the projector's refusals as the writer
-- meets them. The projector runs as odl_owner with a tenant context, as
-- the writer calls it; the machine's every decision is compared with the
-- facts in tests/python/test_components.py.
begin;
select plan(25);

select has_table('odl', 'component_statuses', 'the statuses exist');
select has_table('odl', 'component_transitions', 'the transitions exist');
select has_table('odl', 'component_requirements', 'the requirements exist');
select has_table('odl', 'component_index', 'the index exists');
select col_is_pk('odl', 'component_transitions', array['from_status', 'to_status'], 'a transition is a pair');
select col_is_pk('odl', 'component_index', array['tenant_id', 'doc_id', 'component_key'], 'a row per name');
select is((select count(*)::integer from odl.component_statuses), 19, 'the 19 normative statuses');
select is_empty(
    $$select t.to_status from odl.component_transitions as t where t.from_status = 'archived'$$,
    'archived is terminal'
);
select ok(
    (
        select c.relrowsecurity and c.relforcerowsecurity from pg_catalog.pg_class as c
        where c.oid = 'odl.component_index'::regclass
    ),
    'RLS is enabled and forced on the index'
);
select policies_are('odl', 'component_index', array['tenant_isolation']);
select has_index(
    'odl', 'component_index', 'component_index_status_brand_part_idx',
    array['tenant_id', 'status', 'brand', 'part_number', 'component_id', 'rating_w', 'project_id'],
    'the covering index leads with the tenant and holds what the seed''s query reads'
);
select table_privs_are('odl', 'component_index', 'odl_app', array[]::text[], 'odl_app reads no index row');
select table_privs_are(
    'odl', 'component_transitions', 'odl_app', array[]::text[], 'odl_app changes statuses only through the API'
);
select table_privs_are('odl', 'readable_components', 'odl_analyst', array['SELECT'], 'analysts read the view');
select table_privs_are('odl', 'component_index', 'odl_analyst', array[]::text[], 'not the table');
select ok(
    not pg_catalog.has_function_privilege(
        'odl_app', 'odl.project_components(text, text, text, integer, jsonb, text[])', 'execute'
    ),
    'only the owner runs the projector'
);

-- Fixtures: a tenant whose engineer holds engineer at the PORTFOLIO its
-- project hangs under, and a document with one draft component.
set local role odl_admin;
do $$
begin
    perform set_config('fixture.tenant', odl.odl_create_tenant('Components', 'EU'), true);
    perform set_config(
        'fixture.admin', odl.odl_create_user(current_setting('fixture.tenant'), 'root@c.example', 'super_user'), true
    );
    perform set_config(
        'fixture.eng', odl.odl_create_user(current_setting('fixture.tenant'), 'eve@c.example', 'engineer'), true
    );
end
$$;
reset role;
set local role odl_app;
do $$
begin
    perform odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.admin'));
    perform set_config('fixture.project', odl.odl_create_project('Components'), true);
    perform set_config('fixture.node', odl.odl_create_node(null, 'PORTFOLIO', 'Portfolio'), true);
    perform odl.odl_attach_project(current_setting('fixture.project'), current_setting('fixture.node'));
    perform odl.odl_assign_role(current_setting('fixture.eng'), current_setting('fixture.node'), 'engineer');
    perform odl.odl_assign_role(current_setting('fixture.admin'), current_setting('fixture.node'), 'super_user');
    perform set_config('fixture.doc', odl.odl_create_document(current_setting('fixture.project'), jsonb_build_object(
        '$schema', 'https://odl-sd.org/schemas/v4.1/document.json', 'schema_version', '4.1', 'meta', '{}'::jsonb,
        'hierarchy', '{"type": "PORTFOLIO", "id": "PF"}'::jsonb,
        'libraries', (
            '{"components": {"inv": {"category": "power_electronics", "component_management": {"status": '
            || '"draft", "component_identity": {"brand": "ACME", "part_number": "I-1", "rating_w": 400}}}}}'
        )::jsonb
    )), true);
    perform odl.odl_set_context(current_setting('fixture.tenant'), current_setting('fixture.eng'));
end
$$;

select throws_ok(
    format(
        $$select * from odl.odl_set_component_status(%L, 'inv', 'approved', 1)$$, current_setting('fixture.doc')
    ),
    'ODK01',
    'component status cannot change from draft to approved: no transition leads there; from draft a component goes '
    || 'to parsed, archived',
    'a jump the machine has no transition for is refused with ODK01, naming from, to and why'
);
select throws_ok(
    format($$select * from odl.odl_set_component_status(%L, 'inv', 'parsed', 1)$$, current_setting('fixture.doc')),
    'ODK04',
    'component status cannot change from draft to parsed: the record lacks '
    || 'component_management.source_documents.datasheet with its url',
    'a transition whose fields are missing is refused with ODK04'
);
select throws_ok(
    format($$select * from odl.odl_set_component_status(%L, 'gone', 'parsed', 1)$$, current_setting('fixture.doc')),
    'ODK05',
    'the document has no library component of that name',
    'an unknown component is named'
);
select results_eq(
    format(
        $$select outcome, version from odl.odl_set_component_status(%L, 'inv', 'archived', 1)$$,
        current_setting('fixture.doc')
    ),
    $$values ('applied', 2)$$,
    'a legal transition is applied as a new version'
);
select is(
    (
        select g.document #>> '{libraries,components,inv,component_management,status}'
        from odl.odl_get_document(current_setting('fixture.doc'), null) as g
    ),
    'archived',
    'the document holds the new status'
);
select throws_ok(
    format(
        $$select * from odl.odl_set_component_status(%L, 'inv', 'draft', 2)$$, current_setting('fixture.doc')
    ),
    'ODK01',
    'component status cannot change from archived to draft: no transition leads there; from archived a component '
    || 'goes to nothing: it is terminal',
    'archived is terminal in the writer too'
);
reset role;

-- RLS: the owner sees the context's tenant's rows only.
set local role odl_owner;
select results_eq(
    $$select component_key, status from odl.component_index$$,
    $$values ('inv', 'archived')$$,
    'the index follows the document, in the context''s tenant'
);
select lives_ok($$select odl.odl_clear_context()$$, 'the context is cleared');
select is_empty($$select from odl.component_index$$, 'without a context the owner sees no row');
reset role;

select * from finish();
rollback;
