-- Sub-trees kept outside documents: the blobs' shape and guards, the
-- resolver on documents stored whole and outside, a missing blob. Storing,
-- patching and purging through the API is tests/python/test_external_refs.py.
begin;
select plan(16);

select has_table('odl', 'document_blobs', 'blobs of sub-trees kept outside documents');
select col_is_pk('odl', 'document_blobs', array['tenant_id', 'sha256'], 'a blob is addressed within its tenant');
select policies_are('odl', 'document_blobs', array['tenant_isolation']);
select ok(
    (
        select c.relrowsecurity and c.relforcerowsecurity from pg_catalog.pg_class as c
        where c.oid = 'odl.document_blobs'::regclass
    ),
    'document_blobs has enabled and forced RLS'
);
select table_owner_is('odl', 'document_blobs', 'odl_owner', 'odl_owner owns the blobs');
select table_privs_are('odl', 'document_blobs', 'odl_app', array[]::text[], 'applications never touch blobs');
select table_privs_are('odl', 'document_blobs', 'odl_analyst', array[]::text[], 'analysts read documents whole');
select is(
    (
        select a.attcompression from pg_catalog.pg_attribute as a
        where a.attrelid = 'odl.document_blobs'::regclass and a.attname = 'content'
    ),
    'l',
    'blob content is compressed with lz4'
);
select function_privs_are(
    'odl', 'blob_purge', array[]::text[], 'odl_app', array[]::text[], 'only a superuser purges blobs'
);

-- Fixtures: a tenant made through the API, and its blobs written as the
-- superuser that RLS does not bind (the writer is the document API).
set local role odl_admin;
select set_config('fixture.tenant', odl.odl_create_tenant('extref', 'EU'), true) is not null as made \gset
reset role;
insert into odl.document_blobs (tenant_id, sha256, content, size_bytes)
values
(current_setting('fixture.tenant'), repeat('a', 64), '[{"id": "I-1"}, {"id": "I-2"}]', 30),
(current_setting('fixture.tenant'), repeat('b', 64), '[{"id": "I-3"}]', 15),
(current_setting('fixture.tenant'), repeat('c', 64), '{"runs": [1, 2]}', 16);

select throws_ok(
    $$insert into odl.document_blobs (tenant_id, sha256, content, size_bytes)
      values (current_setting('fixture.tenant'), 'sha256:abc', '[]', 2)$$,
    '23514', null,
    'a blob''s address is a bare hex SHA-256'
);
select throws_ok(
    $$insert into odl.document_blobs (tenant_id, sha256, content, size_bytes)
      values (current_setting('fixture.tenant'), repeat('d', 64), '42', 2)$$,
    '23514', null,
    'only an array or an object is kept outside'
);
select is(
    odl.document_resolved(current_setting('fixture.tenant'), '{"instances": [1], "a": 2}', null),
    '{"instances": [1], "a": 2}'::jsonb,
    'a document stored whole is returned as it is'
);
select is(
    odl.document_resolved(
        current_setting('fixture.tenant'), '{"instances": [], "analysis": {}, "a": 2}',
        jsonb_build_object(
            '/instances', jsonb_build_array(repeat('a', 64), repeat('b', 64), repeat('a', 64)),
            '/analysis', jsonb_build_array(repeat('c', 64))
        )
    ),
    '{"instances": [{"id": "I-1"}, {"id": "I-2"}, {"id": "I-3"}, {"id": "I-1"}, {"id": "I-2"}],
      "analysis": {"runs": [1, 2]}, "a": 2}'::jsonb,
    'segments are put back in order (one twice), an object whole'
);
select is(
    odl.document_resolved(
        current_setting('fixture.tenant'), '{"x": [{"y": []}]}',
        jsonb_build_object('/x/0/y', jsonb_build_array(repeat('b', 64)))
    ),
    '{"x": [{"y": [{"id": "I-3"}]}]}'::jsonb,
    'a sub-tree below an array element resolves too'
);
select throws_ok(
    $$select odl.document_resolved(
        current_setting('fixture.tenant'), '{"instances": []}',
        jsonb_build_object('/instances', jsonb_build_array(repeat('a', 64), repeat('e', 64))))$$,
    'ODB01', 'document references a blob that is missing',
    'a missing segment is an error, never a shorter array'
);
select throws_ok(
    $$select odl.document_resolved(
        '01MZZZZZZZZZZZZZZZZZZZZZZZ', '{"instances": []}',
        jsonb_build_object('/instances', jsonb_build_array(repeat('a', 64))))$$,
    'ODB01', 'document references a blob that is missing',
    'another tenant''s blob is never found'
);

select * from finish();
rollback;
