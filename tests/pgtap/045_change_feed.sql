-- The change feed: the projector registry and odl.run_projectors(), the
-- instances projector (incremental and whole, always equal to a rebuild),
-- RLS on odl.document_instances and the analysts' view of it, and
-- odl_changes_since(): order, resumption, what stays hidden (transactions
-- still running, other tenants, projects the user may not read) and its
-- errors. The projector runs as odl_owner with a tenant context, as the
-- writer calls it; documents and versions are stored by the superuser, so
-- that the projection and the feed are tested on their own (the property
-- test in tests/python/test_change_feed.py drives them through the API).
begin;
select plan(53);

-- instances_of() lists a document's projected rows in position order.
create function pg_temp.instances_of(doc_id text)
returns jsonb
language sql
as $$
    select coalesce(
        jsonb_agg(
            jsonb_build_array(i.position, i.instance_id, i.type_ref, i.parent_ref, i.lifecycle_status, i.lat, i.lon)
            order by i.position
        ),
        '[]'
    )
    from odl.document_instances as i
    where i.doc_id = instances_of.doc_id
$$;

-- project() runs the projectors on a document's next content, as the
-- writer does after storing it.
create function pg_temp.project(doc jsonb, changed text[])
returns jsonb
language plpgsql
as $$
begin
    perform odl.run_projectors(
        current_setting('fixture.tenant_a'), current_setting('fixture.doc_a'), current_setting('fixture.project_a'),
        2, doc, changed
    );
    return pg_temp.instances_of(current_setting('fixture.doc_a'));
end
$$;

-- whole() projects the same content from scratch: what every step must equal.
create function pg_temp.whole(doc jsonb)
returns jsonb
language plpgsql
as $$
begin
    delete from odl.document_instances as i where i.doc_id = current_setting('fixture.doc_a');
    return pg_temp.project(doc, '{""}');
end
$$;

-- The registry.

select has_table('odl', 'document_projectors', 'the projector registry exists');
select results_eq(
    $$
        select p.projector, p.handler::text, p.run_order, p.enabled
        from odl.document_projectors as p
        order by p.run_order
    $$,
    $$
        values
        ('instances', 'odl.project_instances(text,text,text,integer,jsonb,text[])', 100, true),
        ('components', 'odl.project_components(text,text,text,integer,jsonb,text[])', 150, true),
        ('graph', 'odl.project_graph(text,text,text,integer,jsonb,text[])', 200, true),
        ('chunks', 'odl.project_chunks(text,text,text,integer,jsonb,text[])', 250, true),
        ('cag_invalidation', 'odl.project_cag_invalidation(text,text,text,integer,jsonb,text[])', 300, true),
        ('notify', 'odl.notify_version(text,text,text,integer,jsonb,text[])', 1000, true)
    $$,
    'the projectors are registered and enabled, each at its own run order: instances, components (which refuses '
    || 'an illegal status change before the others work), graph, chunks, the CAG invalidation, and notify last'
);
select ok(
    not pg_catalog.has_function_privilege(
        'odl_app', 'odl.run_projectors(text, text, text, integer, jsonb, text[])', 'execute'
    )
    and not pg_catalog.has_function_privilege(
        'odl_app', 'odl.project_instances(text, text, text, integer, jsonb, text[])', 'execute'
    )
    and not pg_catalog.has_function_privilege('odl_app', 'odl.rebuild_instances(text)', 'execute'),
    'only the owner runs projectors'
);

-- Fixtures: tenants A and B, each with an administrator and a user who
-- holds super_user at the PORTFOLIO the tenant's project hangs under; in
-- A also a guest with no role anywhere.

set local role odl_admin;
do $$
begin
    perform set_config('fixture.tenant_a', odl.odl_create_tenant('Feed A', 'EU'), true);
    perform set_config('fixture.tenant_b', odl.odl_create_tenant('Feed B', 'US'), true);
    perform set_config(
        'fixture.user_a', odl.odl_create_user(current_setting('fixture.tenant_a'), 'ann@a.example', 'engineer'), true
    );
    perform set_config(
        'fixture.guest_a', odl.odl_create_user(current_setting('fixture.tenant_a'), 'gus@a.example', 'engineer'),
        true
    );
    perform set_config(
        'fixture.admin_a', odl.odl_create_user(current_setting('fixture.tenant_a'), 'root@a.example', 'super_user'),
        true
    );
    perform set_config(
        'fixture.eng_a', odl.odl_create_user(current_setting('fixture.tenant_a'), 'eve@a.example', 'engineer'), true
    );
    perform set_config(
        'fixture.user_b', odl.odl_create_user(current_setting('fixture.tenant_b'), 'bob@b.example', 'engineer'), true
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
    perform odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'));
    perform set_config('fixture.project_a', odl.odl_create_project('Feed A'), true);
    perform odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.admin_a'));
    perform set_config('fixture.node_a', odl.odl_create_node(null, 'PORTFOLIO', 'Portfolio A'), true);
    perform odl.odl_attach_project(current_setting('fixture.project_a'), current_setting('fixture.node_a'));
    perform odl.odl_assign_role(current_setting('fixture.user_a'), current_setting('fixture.node_a'), 'super_user');
    perform odl.odl_assign_role(current_setting('fixture.eng_a'), current_setting('fixture.node_a'), 'engineer');
    perform odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'));
    perform set_config('fixture.project_b', odl.odl_create_project('Feed B'), true);
    perform odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.admin_b'));
    perform set_config('fixture.node_b', odl.odl_create_node(null, 'PORTFOLIO', 'Portfolio B'), true);
    perform odl.odl_attach_project(current_setting('fixture.project_b'), current_setting('fixture.node_b'));
    perform odl.odl_assign_role(current_setting('fixture.user_b'), current_setting('fixture.node_b'), 'super_user');
    perform odl.odl_clear_context();
end
$$;
reset role;

-- One document in each project, stored as version 1 by the superuser.
do $$
declare
    a constant text := current_setting('fixture.tenant_a');
    b constant text := current_setting('fixture.tenant_b');
begin
    perform set_config('fixture.doc_a', odl.odl_ulid(), true);
    perform set_config('fixture.doc_b', odl.odl_ulid(), true);
    insert into odl.odl_documents (
        tenant_id, doc_id, project_id, schema_version, doc_json, doc_hash, version, created_by, updated_by
    )
    values
    (
        a, current_setting('fixture.doc_a'), current_setting('fixture.project_a'), '4.1',
        '{"schema_version": "4.1", "instances": [
            {"id": "A", "type_ref": "CMP:inv", "parent_ref": "B1", "lifecycle_status": "planned",
             "location": {"lat": 40.25, "lon": -3.5}},
            {"id": "B", "type_ref": "CMP:tx", "parent_ref": "B1", "lifecycle_status": "installed"},
            {"id": "C", "type_ref": "CMP:inv", "parent_ref": "B2"}
        ]}',
        'sha256:' || repeat('a', 64), 1, current_setting('fixture.user_a'), current_setting('fixture.user_a')
    ),
    (
        b, current_setting('fixture.doc_b'), current_setting('fixture.project_b'), '4.1',
        '{"schema_version": "4.1", "instances": [{"id": "Z", "type_ref": "CMP:z"}]}',
        'sha256:' || repeat('b', 64), 1, current_setting('fixture.user_b'), current_setting('fixture.user_b')
    );
    perform odl.rebuild_instances(current_setting('fixture.doc_b'));
end
$$;

-- The contents the projector is given, one per step.
do $$
begin
    perform set_config('fixture.v2', '{"instances": [
        {"id": "A", "type_ref": "CMP:inv", "parent_ref": "B1", "lifecycle_status": "planned",
         "location": {"lat": 40.25, "lon": -3.5}},
        {"id": "B", "type_ref": "CMP:tx", "parent_ref": "B1", "lifecycle_status": "commissioned"},
        {"id": "C", "type_ref": "CMP:inv", "parent_ref": "B2"}
    ]}', true);
    perform set_config('fixture.v3', '{"instances": [
        {"id": "A2", "type_ref": "CMP:inv", "parent_ref": "B1", "location": {"lat": 41, "lon": "east"}},
        {"id": "B", "type_ref": "CMP:tx", "parent_ref": "B1", "lifecycle_status": "commissioned"},
        {"id": "C", "type_ref": "CMP:pcs", "parent_ref": "B2"}
    ]}', true);
    perform set_config('fixture.v4', '{"instances": [
        {"id": "B", "type_ref": "CMP:tx", "parent_ref": "B1", "lifecycle_status": "commissioned"},
        {"id": "C", "type_ref": "CMP:pcs", "parent_ref": "B2"}
    ]}', true);
    perform set_config('fixture.v5', '{"instances": [
        {"id": "C", "type_ref": "CMP:pcs", "parent_ref": "B2"},
        7,
        {"type_ref": "CMP:no-id"},
        {"id": 8, "type_ref": "CMP:number-id"},
        {"id": "B", "type_ref": "CMP:tx", "parent_ref": "B1", "lifecycle_status": "commissioned"}
    ]}', true);
end
$$;

-- The instances projector, as the writer's owner runs it.

set local role odl_owner;
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'))$$,
    'setup: the owner acts in tenant A'
);
select is(odl.rebuild_instances(current_setting('fixture.doc_a')), 3, 'rebuild_instances() projects every instance');
select is(
    pg_temp.instances_of(current_setting('fixture.doc_a')),
    '[[0, "A", "CMP:inv", "B1", "planned", 40.25, -3.5], [1, "B", "CMP:tx", "B1", "installed", null, null],
      [2, "C", "CMP:inv", "B2", null, null, null]]',
    'a row per instance: position, id, type_ref, parent_ref, lifecycle_status, lat and lon from location'
);

select is(
    pg_temp.project(current_setting('fixture.v2')::jsonb, '{/instances/1/lifecycle_status}'),
    '[[0, "A", "CMP:inv", "B1", "planned", 40.25, -3.5], [1, "B", "CMP:tx", "B1", "commissioned", null, null],
      [2, "C", "CMP:inv", "B2", null, null, null]]',
    'a field replaced below /instances/N re-projects that instance'
);
select is(
    pg_temp.project('{"instances": []}', '{/meta/notes}'),
    pg_temp.whole(current_setting('fixture.v2')::jsonb),
    'a pointer outside /instances leaves the rows as they are, and they equal a rebuild'
);

select is(
    pg_temp.project(current_setting('fixture.v3')::jsonb, '{/instances/0,/instances/2/type_ref}'),
    '[[0, "A2", "CMP:inv", "B1", null, 41, null], [1, "B", "CMP:tx", "B1", "commissioned", null, null],
      [2, "C", "CMP:pcs", "B2", null, null, null]]',
    'an instance replaced under a new id is renamed; lat and lon are null unless numbers'
);
select is(
    pg_temp.instances_of(current_setting('fixture.doc_a')),
    pg_temp.whole(current_setting('fixture.v3')::jsonb),
    'the incremental rows equal a rebuild'
);

select is(
    pg_temp.project(current_setting('fixture.v4')::jsonb, '{/instances}'),
    '[[0, "B", "CMP:tx", "B1", "commissioned", null, null], [1, "C", "CMP:pcs", "B2", null, null, null]]',
    'an instance removed (reported as /instances) leaves, and those after it move up'
);

select is(
    pg_temp.project(current_setting('fixture.v5')::jsonb, '{/instances}'),
    '[[0, "C", "CMP:pcs", "B2", null, null, null], [4, "B", "CMP:tx", "B1", "commissioned", null, null]]',
    'a reordered array moves the rows; elements that are no object with a string id have none'
);
select is(
    pg_temp.project(
        jsonb_set(current_setting('fixture.v5')::jsonb, '{instances,1}', '{"id": "D", "type_ref": "CMP:d"}'),
        '{/instances/1}'
    ),
    '[[0, "C", "CMP:pcs", "B2", null, null, null], [1, "D", "CMP:d", null, null, null, null],
      [4, "B", "CMP:tx", "B1", "commissioned", null, null]]',
    'a non-object element replaced by an instance gets its row'
);
select is(
    pg_temp.project('{"instances": [{"id": "E"}, {"id": "E", "type_ref": "second"}]}', '{""}'),
    '[[0, "E", null, null, null, null, null]]',
    'a repeated id (which the writer refuses) keeps its first element'
);
select is(
    pg_temp.project('{"meta": {}}', '{/instances}'),
    '[]',
    'instances removed entirely leave no row'
);
select is(
    pg_temp.project('{"instances": [{"id": "F", "lifecycle_status": "planned"}]}', '{""}'),
    '[[0, "F", null, null, "planned", null, null]]',
    'a replaced root re-projects everything'
);
select is(
    pg_temp.project('{"instances": {"0": {"id": "G"}}}', '{/instances/0}'),
    '[]',
    'an /instances that is no array has no rows'
);

-- Other projectors run in run_order, disabled ones not at all, each with
-- the writer's arguments.

reset role;
create table pg_temp.projector_calls (n serial, projector text, args text);
grant insert, select on pg_temp.projector_calls to odl_owner;
grant usage on sequence pg_temp.projector_calls_n_seq to odl_owner;
create function odl.test_projector_first(
    tenant_id text, doc_id text, project_id text, version integer, doc jsonb, changed_pointers text[]
)
returns void
language sql
set search_path = pg_catalog, odl, pg_temp
as $$
    insert into pg_temp.projector_calls (projector, args)
    values ('first', concat_ws(' ', version, doc, changed_pointers))
$$;
create function odl.test_projector_last(
    tenant_id text, doc_id text, project_id text, version integer, doc jsonb, changed_pointers text[]
)
returns void
language sql
set search_path = pg_catalog, odl, pg_temp
as $$
    insert into pg_temp.projector_calls (projector, args) values ('last', version::text)
$$;
create function odl.test_projector_off(
    tenant_id text, doc_id text, project_id text, version integer, doc jsonb, changed_pointers text[]
)
returns void
language sql
set search_path = pg_catalog, odl, pg_temp
as $$
    insert into pg_temp.projector_calls (projector, args) values ('off', version::text)
$$;
insert into odl.document_projectors (projector, handler, run_order, enabled) values
('test_last', 'odl.test_projector_last(text, text, text, integer, jsonb, text[])', 900, true),
('test_off', 'odl.test_projector_off(text, text, text, integer, jsonb, text[])', 50, false),
('test_first', 'odl.test_projector_first(text, text, text, integer, jsonb, text[])', 10, true);
set local role odl_owner;
select lives_ok(
    $$select pg_temp.project('{"instances": [{"id": "H"}]}', '{/instances}')$$,
    'run_projectors() runs with three more projectors registered'
);
select results_eq(
    $$select c.projector, c.args from pg_temp.projector_calls as c order by c.n$$,
    $$values ('first', '2 {"instances": [{"id": "H"}]} {/instances}'), ('last', '2')$$,
    'enabled projectors run in run_order with the version, document and changed pointers; disabled ones do not'
);
select is(
    pg_temp.instances_of(current_setting('fixture.doc_a')),
    '[[0, "H", null, null, null, null, null]]',
    'the instances projector ran between them'
);
reset role;
delete from odl.document_projectors where projector like 'test\_%';

-- RLS: the projection is the context's tenant's only, for the owner too;
-- odl_app reads it not at all.

set local role odl_owner;
select results_eq(
    $$select i.instance_id from odl.document_instances as i$$,
    $$values ('H')$$,
    'the owner sees the projection of its context''s tenant only'
);
select throws_ok(
    $$
        select odl.run_projectors(
            current_setting('fixture.tenant_b'), current_setting('fixture.doc_b'), current_setting('fixture.project_b'),
            2, '{"instances": [{"id": "Y"}]}', '{""}'
        )
    $$,
    '42501',
    'new row violates row-level security policy for table "document_instances"',
    'a projector cannot write another tenant''s rows'
);
select lives_ok($$select odl.odl_clear_context()$$, 'setup: no context');
select is_empty($$select from odl.document_instances$$, 'without a context the projection shows no row');
reset role;
set local role odl_app;
select throws_ok(
    $$select from odl.document_instances$$,
    '42501',
    'permission denied for table document_instances',
    'odl_app cannot read the projection'
);

-- Analysts read odl.readable_instances: the context's tenant, projects
-- where they may read instances.

reset role;
select ok(
    (
        select 'security_barrier=true' = any(c.reloptions)
        from pg_catalog.pg_class as c
        where c.oid = 'odl.readable_instances'::regclass
    ),
    'odl.readable_instances is a security barrier'
);
select table_privs_are('odl', 'readable_instances', 'odl_analyst', array['SELECT'], 'odl_analyst reads it');
select table_privs_are('odl', 'readable_instances', 'odl_app', array[]::text[], 'odl_app does not');
set local role odl_analyst;
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'))$$,
    'setup: an analyst acts as the user of A'
);
select results_eq(
    $$select r.project_id::text, r.doc_id::text, r.instance_id, r.position from odl.readable_instances as r$$,
    $$values (current_setting('fixture.project_a'), current_setting('fixture.doc_a'), 'H', 0)$$,
    'a reader with R on instances sees the instances of the project'
);
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.guest_a'))$$,
    'setup: an analyst acts as the guest of A'
);
select is_empty($$select from odl.readable_instances$$, 'a user without rights at the project sees none');
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'))$$,
    'setup: an analyst acts as the user of B'
);
select results_eq(
    $$select r.instance_id from odl.readable_instances as r$$,
    $$values ('Z')$$,
    'a user of another tenant sees that tenant''s instances only'
);

-- The feed. Versions of A's document are stored with chosen transaction
-- ids: version 1 from before v2 (0), 2 written by transaction 7 and 3 by
-- transaction 5 (a writer that began before version 2 committed; all long
-- ended), 4 by this transaction, which is still running. A second document
-- of A has version 1 by transaction 6, and B's document version 2 by 6.

reset role;
do $$
declare
    a constant text := current_setting('fixture.tenant_a');
    d constant text := current_setting('fixture.doc_a');
    u constant text := current_setting('fixture.user_a');
begin
    insert into odl.odl_document_versions (tenant_id, doc_id, version, doc_hash, created_by, xid, changed_pointers)
    values
    (a, d, 1, 'sha256:' || repeat('1', 64), u, '0', null),
    (a, d, 2, 'sha256:' || repeat('2', 64), u, '7', '{/instances/1/lifecycle_status}'),
    (a, d, 3, 'sha256:' || repeat('3', 64), u, '5', '{/instances}');
    insert into odl.odl_document_versions (tenant_id, doc_id, version, doc_hash, created_by, changed_pointers)
    values (a, d, 4, 'sha256:' || repeat('4', 64), u, '{""}');
    perform set_config('fixture.doc_c', odl.odl_ulid(), true);
    insert into odl.odl_documents (
        tenant_id, doc_id, project_id, schema_version, doc_json, doc_hash, version, created_by, updated_by
    )
    values (
        a, current_setting('fixture.doc_c'), current_setting('fixture.project_a'), '4.1', '{"schema_version": "4.1"}',
        'sha256:' || repeat('c', 64), 1, u, u
    );
    insert into odl.odl_document_versions (tenant_id, doc_id, version, doc_hash, created_by, xid, changed_pointers)
    values (a, current_setting('fixture.doc_c'), 1, 'sha256:' || repeat('c', 64), u, '6', '{""}');
    insert into odl.odl_document_versions (tenant_id, doc_id, version, doc_hash, created_by, xid, changed_pointers)
    values (
        current_setting('fixture.tenant_b'), current_setting('fixture.doc_b'), 2, 'sha256:' || repeat('6', 64),
        current_setting('fixture.user_b'), '6', '{/instances}'
    );
end
$$;
create temporary view feed_positions as
select v.doc_id, v.version, format('%s:%s', v.xid, v.version_id) as position
from odl.odl_document_versions as v;
grant select on feed_positions to odl_app;

set local role odl_app;
select lives_ok($$select odl.odl_clear_context()$$, 'setup: no context');
select throws_ok(
    $$select * from odl.odl_changes_since()$$,
    'ODC01',
    'no tenant context is set',
    'odl_changes_since() without a context raises ODC01'
);
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'))$$,
    'setup: the user of A reads the feed'
);
select results_eq(
    $$
        select f.version, f.doc_id, f.project_id, f.doc_hash, f.changed_pointers, f.created_by
        from odl.odl_changes_since() as f
    $$,
    $$
        values
        (1, current_setting('fixture.doc_a'), current_setting('fixture.project_a'), 'sha256:' || repeat('1', 64),
         null::text [], current_setting('fixture.user_a')),
        (1, current_setting('fixture.doc_c'), current_setting('fixture.project_a'), 'sha256:' || repeat('c', 64),
         '{""}', current_setting('fixture.user_a')),
        (2, current_setting('fixture.doc_a'), current_setting('fixture.project_a'), 'sha256:' || repeat('2', 64),
         '{/instances/1/lifecycle_status}', current_setting('fixture.user_a')),
        (3, current_setting('fixture.doc_a'), current_setting('fixture.project_a'), 'sha256:' || repeat('3', 64),
         '{/instances}', current_setting('fixture.user_a'))
    $$,
    'the feed lists versions from before v2 first, then by transaction, a document''s versions in their order; '
    || 'the running transaction''s not yet'
);
select results_eq(
    $$
        select split_part(p.position, ':', 1) from pg_temp.feed_positions as p
        where p.doc_id = current_setting('fixture.doc_a') and p.version = 3
    $$,
    $$values ('7')$$,
    'a version written by a transaction older than the previous version''s takes that version''s key'
);
select results_eq(
    $$select f.position from odl.odl_changes_since() as f$$,
    $$
        select p.position
        from pg_temp.feed_positions as p
        inner join (
            values ('doc_a', 1, 1), ('doc_c', 1, 2), ('doc_a', 2, 3), ('doc_a', 3, 4)
        ) as o (doc, version, n) on p.doc_id = current_setting('fixture.' || o.doc) and p.version = o.version
        order by o.n
    $$,
    'a position is "xid:version_id"'
);
select results_eq(
    $$select f.doc_id, f.version from odl.odl_changes_since(null, 2) as f$$,
    $$values (current_setting('fixture.doc_a'), 1), (current_setting('fixture.doc_c'), 1)$$,
    'max_count bounds the rows'
);
select results_eq(
    $$
        select f.version
        from odl.odl_changes_since(
            (select p.position from pg_temp.feed_positions as p where p.doc_id = current_setting('fixture.doc_c'))
        ) as f
    $$,
    $$values (2), (3)$$,
    'the feed resumes after a position'
);
select is_empty(
    $$
        select from odl.odl_changes_since(
            (
                select p.position from pg_temp.feed_positions as p
                where p.doc_id = current_setting('fixture.doc_a') and p.version = 3
            )
        )
    $$,
    'after the last committed version the feed is empty'
);
select throws_ok(
    $$select * from odl.odl_changes_since('7-12')$$,
    '22023',
    'malformed change feed position',
    'a malformed position is refused'
);
select throws_ok(
    $$select * from odl.odl_changes_since(null, 0)$$,
    '22023',
    'max_count must be between 1 and 10000',
    'max_count out of bounds is refused'
);
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.guest_a'))$$,
    'setup: the guest of A reads the feed'
);
select is_empty($$select from odl.odl_changes_since()$$, 'a user who may read no project sees no change');
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'))$$,
    'setup: the user of B reads the feed'
);
select results_eq(
    $$select f.doc_id, f.version from odl.odl_changes_since() as f$$,
    $$values (current_setting('fixture.doc_b'), 2)$$,
    'another tenant''s user sees only that tenant''s changes'
);

-- Pointers are shown as reads show the document: an engineer (no R on
-- finance, clearance restricted) does not see those in finance or in a
-- supplier's pricing (confidential).

reset role;
do $$
declare
    a constant text := current_setting('fixture.tenant_a');
    u constant text := current_setting('fixture.user_a');
begin
    perform set_config('fixture.doc_d', odl.odl_ulid(), true);
    insert into odl.odl_documents (
        tenant_id, doc_id, project_id, schema_version, doc_json, doc_hash, version, created_by, updated_by
    )
    values (
        a, current_setting('fixture.doc_d'), current_setting('fixture.project_a'), '4.1', '{"schema_version": "4.1"}',
        'sha256:' || repeat('d', 64), 1, u, u
    );
    insert into odl.odl_document_versions (tenant_id, doc_id, version, doc_hash, created_by, xid, changed_pointers)
    values (
        a, current_setting('fixture.doc_d'), 1, 'sha256:' || repeat('d', 64), u, '9',
        '{/finance/capex,/instances/0,/libraries/components/CMP:x/name,/libraries/components/CMP:x/pricing/usd}'
    );
end
$$;
set local role odl_app;
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.eng_a'))$$,
    'setup: an engineer of A reads the feed'
);
select results_eq(
    $$
        select f.doc_id, f.changed_pointers
        from odl.odl_changes_since(
            (
                select p.position from pg_temp.feed_positions as p
                where p.doc_id = current_setting('fixture.doc_a') and p.version = 3
            )
        ) as f
    $$,
    $$values (current_setting('fixture.doc_d'), '{/instances/0,/libraries/components/CMP:x/name}'::text [])$$,
    'pointers in sections the reader may not read, or in parts above their clearance, are left out'
);
select lives_ok(
    $$select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'))$$,
    'setup: the super_user of A reads the feed'
);
select results_eq(
    $$
        select f.changed_pointers from odl.odl_changes_since(null, 10000) as f
        where f.doc_id = current_setting('fixture.doc_d')
    $$,
    $$
        values (
            '{/finance/capex,/instances/0,/libraries/components/CMP:x/name,/libraries/components/CMP:x/pricing/usd}'
            ::text []
        )
    $$,
    'a reader who may read everything sees every pointer'
);

select * from finish();
rollback;
