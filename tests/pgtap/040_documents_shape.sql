-- Shape of the document store: columns and types, keys that lead with
-- tenant_id, foreign keys that carry tenant_id, named CHECKs, documents
-- compressed with lz4 and no whole-document index, forced RLS and its policies, privileges (odl_app reads
-- documents only through the API), the schema registry and the SQLSTATEs of
-- the document API.
begin;
select plan(49);

-- Columns, in order, with their types, nullability and identity.

select columns_are('odl', 'json_schemas', array['schema_id', 'version', 'schema', 'content_hash', 'registered_at']);
select columns_are(
    'odl', 'odl_documents',
    array[
        'tenant_id', 'doc_id', 'project_id', 'schema_version', 'doc_json', 'doc_hash', 'version',
        'valid_from', 'created_by', 'created_at', 'updated_by', 'external'
    ]
);
select columns_are(
    'odl', 'odl_document_versions',
    array[
        'tenant_id', 'doc_id', 'version', 'version_id', 'doc_hash', 'doc_json', 'created_at', 'created_by',
        'changed_pointers', 'xid', 'external'
    ]
);
select columns_are(
    'odl', 'odl_patches',
    array[
        'tenant_id', 'doc_id', 'to_version', 'patch_id', 'from_version', 'patch_json', 'inverse_patch',
        'evidence_uris', 'intent', 'tool_version', 'dry_run', 'created_at', 'created_by'
    ]
);
select results_eq(
    $$
        select
            a.attrelid::regclass::text,
            a.attname::text collate "default",
            pg_catalog.format_type(a.atttypid, a.atttypmod),
            a.attnotnull,
            a.attidentity::text collate "default"
        from pg_catalog.pg_attribute as a
        where a.attrelid in (
            'odl.json_schemas'::regclass, 'odl.odl_documents'::regclass,
            'odl.odl_document_versions'::regclass, 'odl.odl_patches'::regclass
        )
            and a.attnum > 0
            and not a.attisdropped
        order by a.attrelid::regclass::text collate "C", a.attnum
    $$,
    $$
        values
        ('odl.json_schemas', 'schema_id', 'text', true, ''),
        ('odl.json_schemas', 'version', 'text', true, ''),
        ('odl.json_schemas', 'schema', 'jsonb', true, ''),
        ('odl.json_schemas', 'content_hash', 'text', true, ''),
        ('odl.json_schemas', 'registered_at', 'timestamp with time zone', true, ''),
        ('odl.odl_document_versions', 'tenant_id', 'odl.ulid', true, ''),
        ('odl.odl_document_versions', 'doc_id', 'odl.ulid', true, ''),
        ('odl.odl_document_versions', 'version', 'integer', true, ''),
        ('odl.odl_document_versions', 'version_id', 'bigint', true, 'a'),
        ('odl.odl_document_versions', 'doc_hash', 'text', true, ''),
        ('odl.odl_document_versions', 'doc_json', 'jsonb', false, ''),
        ('odl.odl_document_versions', 'created_at', 'timestamp with time zone', true, ''),
        ('odl.odl_document_versions', 'created_by', 'odl.ulid', true, ''),
        ('odl.odl_document_versions', 'changed_pointers', 'text[]', false, ''),
        ('odl.odl_document_versions', 'xid', 'xid8', true, ''),
        ('odl.odl_document_versions', 'external', 'jsonb', false, ''),
        ('odl.odl_documents', 'tenant_id', 'odl.ulid', true, ''),
        ('odl.odl_documents', 'doc_id', 'odl.ulid', true, ''),
        ('odl.odl_documents', 'project_id', 'odl.ulid', true, ''),
        ('odl.odl_documents', 'schema_version', 'text', true, ''),
        ('odl.odl_documents', 'doc_json', 'jsonb', true, ''),
        ('odl.odl_documents', 'doc_hash', 'text', true, ''),
        ('odl.odl_documents', 'version', 'integer', true, ''),
        ('odl.odl_documents', 'valid_from', 'timestamp with time zone', true, ''),
        ('odl.odl_documents', 'created_by', 'odl.ulid', true, ''),
        ('odl.odl_documents', 'created_at', 'timestamp with time zone', true, ''),
        ('odl.odl_documents', 'updated_by', 'odl.ulid', true, ''),
        ('odl.odl_documents', 'external', 'jsonb', false, ''),
        ('odl.odl_patches', 'tenant_id', 'odl.ulid', true, ''),
        ('odl.odl_patches', 'doc_id', 'odl.ulid', true, ''),
        ('odl.odl_patches', 'to_version', 'integer', true, ''),
        ('odl.odl_patches', 'patch_id', 'bigint', true, 'a'),
        ('odl.odl_patches', 'from_version', 'integer', true, ''),
        ('odl.odl_patches', 'patch_json', 'jsonb', true, ''),
        ('odl.odl_patches', 'inverse_patch', 'jsonb', true, ''),
        ('odl.odl_patches', 'evidence_uris', 'jsonb', true, ''),
        ('odl.odl_patches', 'intent', 'text', false, ''),
        ('odl.odl_patches', 'tool_version', 'text', false, ''),
        ('odl.odl_patches', 'dry_run', 'boolean', true, ''),
        ('odl.odl_patches', 'created_at', 'timestamp with time zone', true, ''),
        ('odl.odl_patches', 'created_by', 'odl.ulid', true, '')
    $$,
    'every column has its type and nullability; identifiers are odl.ulid, version_id and patch_id are identities'
);
select col_default_is('odl', 'odl_documents', 'doc_id', 'odl.odl_ulid()'::text, 'a doc_id defaults to a new ULID');
select col_default_is(
    'odl', 'odl_patches', 'evidence_uris', '[]'::jsonb, 'evidence_uris defaults to an empty array'
);
select col_default_is('odl', 'odl_patches', 'dry_run', false, 'a stored patch is never a dry run');

-- Keys: the tenant tables lead their primary keys with tenant_id.

select col_is_pk(
    'odl', 'json_schemas', array['schema_id', 'version'], 'json_schemas: primary key (schema_id, version)'
);
select col_is_unique('odl', 'json_schemas', array['version'], 'json_schemas: a schema_version names one schema');
select col_is_pk(
    'odl', 'odl_documents', array['tenant_id', 'doc_id'], 'odl_documents: primary key (tenant_id, doc_id)'
);
select col_is_pk(
    'odl', 'odl_document_versions', array['tenant_id', 'doc_id', 'version'],
    'odl_document_versions: primary key (tenant_id, doc_id, version)'
);
select col_is_pk(
    'odl', 'odl_patches', array['tenant_id', 'doc_id', 'to_version'],
    'odl_patches: primary key (tenant_id, doc_id, to_version)'
);
select has_index(
    'odl', 'odl_documents', 'odl_documents_tenant_id_project_id_idx', array['tenant_id', 'project_id'],
    'the documents of a project are found by (tenant_id, project_id)'
);

-- No index on whole documents (no API function searches them, and every
-- write paid for one); documents and snapshots are compressed with lz4.

select hasnt_index('odl', 'odl_documents', 'odl_documents_doc_json_idx', 'no whole-document GIN index');
select results_eq(
    $$
        select a.attrelid::regclass::text, a.attcompression::text
        from pg_catalog.pg_attribute as a
        where a.attname = 'doc_json'
            and a.attrelid in ('odl.odl_documents'::regclass, 'odl.odl_document_versions'::regclass)
        order by 1
    $$,
    $$ values ('odl.odl_document_versions', 'l'), ('odl.odl_documents', 'l') $$,
    'documents and snapshots are compressed with lz4'
);
select has_index(
    'odl', 'odl_document_versions', 'odl_document_versions_feed_idx', array['tenant_id', 'xid', 'version_id'],
    'the change feed reads versions in (tenant_id, xid, version_id) order'
);

-- Foreign keys: every reference between tenant tables pairs tenant_id with
-- tenant_id, so no row can point into another tenant.

select fk_ok(
    'odl', 'odl_documents', array['tenant_id', 'project_id'], 'odl', 'projects', array['tenant_id', 'project_id']
);
select fk_ok('odl', 'odl_documents', array['tenant_id', 'created_by'], 'odl', 'users', array['tenant_id', 'user_id']);
select fk_ok('odl', 'odl_documents', array['tenant_id', 'updated_by'], 'odl', 'users', array['tenant_id', 'user_id']);
select fk_ok('odl', 'odl_documents', 'schema_version', 'odl', 'json_schemas', 'version');
select fk_ok(
    'odl', 'odl_document_versions', array['tenant_id', 'doc_id'], 'odl', 'odl_documents', array['tenant_id', 'doc_id']
);
select fk_ok(
    'odl', 'odl_document_versions', array['tenant_id', 'created_by'], 'odl', 'users', array['tenant_id', 'user_id']
);
select fk_ok(
    'odl', 'odl_patches', array['tenant_id', 'doc_id', 'to_version'],
    'odl', 'odl_document_versions', array['tenant_id', 'doc_id', 'version']
);
select fk_ok('odl', 'odl_patches', array['tenant_id', 'created_by'], 'odl', 'users', array['tenant_id', 'user_id']);
select set_eq(
    $$
        select con.conrelid::regclass::text, con.conname::text collate "default", con.confdeltype::text
        from pg_catalog.pg_constraint as con
        where con.contype = 'f'
            and con.conrelid in (
                'odl.json_schemas'::regclass, 'odl.odl_documents'::regclass,
                'odl.odl_document_versions'::regclass, 'odl.odl_patches'::regclass
            )
    $$,
    $$
        values
        ('odl.odl_documents', 'odl_documents_tenant_id_project_id_fkey', 'c'),
        ('odl.odl_documents', 'odl_documents_tenant_id_created_by_fkey', 'a'),
        ('odl.odl_documents', 'odl_documents_tenant_id_updated_by_fkey', 'a'),
        ('odl.odl_documents', 'odl_documents_schema_version_fkey', 'a'),
        ('odl.odl_document_versions', 'odl_document_versions_tenant_id_doc_id_fkey', 'c'),
        ('odl.odl_document_versions', 'odl_document_versions_tenant_id_created_by_fkey', 'a'),
        ('odl.odl_patches', 'odl_patches_tenant_id_doc_id_to_version_fkey', 'c'),
        ('odl.odl_patches', 'odl_patches_tenant_id_created_by_fkey', 'a')
    $$,
    'the document tables have exactly these foreign keys; history goes with its document or project only'
);

-- Named CHECK constraints (each commented: see 000_schema), and each one
-- refusing what it names. As the superuser, so that neither RLS nor a
-- foreign key (checked after CHECKs) stands in the way.

select set_eq(
    $$
        select con.conrelid::regclass::text, con.conname::text collate "default"
        from pg_catalog.pg_constraint as con
        where con.contype = 'c'
            and con.conrelid in (
                'odl.json_schemas'::regclass, 'odl.odl_documents'::regclass,
                'odl.odl_document_versions'::regclass, 'odl.odl_patches'::regclass
            )
    $$,
    $$
        values
        ('odl.json_schemas', 'json_schemas_id_matches'),
        ('odl.json_schemas', 'json_schemas_hash_format'),
        ('odl.odl_documents', 'odl_documents_version_positive'),
        ('odl.odl_documents', 'odl_documents_hash_format'),
        ('odl.odl_documents', 'odl_documents_external'),
        ('odl.odl_document_versions', 'odl_document_versions_hash_format'),
        ('odl.odl_document_versions', 'odl_document_versions_external'),
        ('odl.odl_patches', 'odl_patches_consecutive'),
        ('odl.odl_patches', 'odl_patches_is_array'),
        ('odl.odl_patches', 'odl_patches_evidence_is_array')
    $$,
    'the document tables have exactly these named CHECK constraints'
);
select throws_ok(
    $$
        insert into odl.json_schemas (schema_id, version, schema, content_hash)
        values (
            'https://example.com/a.json', '0.1', '{"$id": "https://example.com/b.json"}', 'sha256:' || repeat('0', 64)
        )
    $$,
    '23514',
    'new row for relation "json_schemas" violates check constraint "json_schemas_id_matches"',
    'a registered schema''s key is its own $id'
);
select throws_ok(
    $$
        insert into odl.json_schemas (schema_id, version, schema, content_hash)
        values ('https://example.com/a.json', '0.1', '{"$id": "https://example.com/a.json"}', 'md5:abc')
    $$,
    '23514',
    'new row for relation "json_schemas" violates check constraint "json_schemas_hash_format"',
    'a registered schema''s hash is an ODL-SD content hash'
);
select throws_ok(
    $$
        insert into odl.odl_documents (
            tenant_id, project_id, schema_version, doc_json, doc_hash, version, created_by, updated_by
        )
        values (
            '01ARYZ6S41TSV4RRFFQ69G5FAV', '01ARYZ6S41TSV4RRFFQ69G5FAV', '4.1', '{}',
            'sha256:' || repeat('0', 64), 0, '01ARYZ6S41TSV4RRFFQ69G5FAV', '01ARYZ6S41TSV4RRFFQ69G5FAV'
        )
    $$,
    '23514',
    'new row for relation "odl_documents" violates check constraint "odl_documents_version_positive"',
    'a document''s version is at least 1'
);
select throws_ok(
    $$
        insert into odl.odl_documents (
            tenant_id, project_id, schema_version, doc_json, doc_hash, version, created_by, updated_by
        )
        values (
            '01ARYZ6S41TSV4RRFFQ69G5FAV', '01ARYZ6S41TSV4RRFFQ69G5FAV', '4.1', '{}',
            'sha256:' || repeat('A', 64), 1, '01ARYZ6S41TSV4RRFFQ69G5FAV', '01ARYZ6S41TSV4RRFFQ69G5FAV'
        )
    $$,
    '23514',
    'new row for relation "odl_documents" violates check constraint "odl_documents_hash_format"',
    'a document''s hash is "sha256:" and 64 lower-case hex digits'
);
select throws_ok(
    $$
        insert into odl.odl_document_versions (tenant_id, doc_id, version, doc_hash, created_by)
        values ('01ARYZ6S41TSV4RRFFQ69G5FAV', '01ARYZ6S41TSV4RRFFQ69G5FAV', 1, 'sha256:', '01ARYZ6S41TSV4RRFFQ69G5FAV')
    $$,
    '23514',
    'new row for relation "odl_document_versions" violates check constraint "odl_document_versions_hash_format"',
    'a version''s hash is an ODL-SD content hash'
);
select throws_ok(
    $$
        insert into odl.odl_patches (tenant_id, doc_id, to_version, from_version, patch_json, inverse_patch, created_by)
        values (
            '01ARYZ6S41TSV4RRFFQ69G5FAV', '01ARYZ6S41TSV4RRFFQ69G5FAV', 3, 1, '[]', '[]', '01ARYZ6S41TSV4RRFFQ69G5FAV'
        )
    $$,
    '23514',
    'new row for relation "odl_patches" violates check constraint "odl_patches_consecutive"',
    'a patch moves a document exactly one version on'
);
select throws_ok(
    $$
        insert into odl.odl_patches (tenant_id, doc_id, to_version, from_version, patch_json, inverse_patch, created_by)
        values (
            '01ARYZ6S41TSV4RRFFQ69G5FAV', '01ARYZ6S41TSV4RRFFQ69G5FAV', 2, 1, '[]', '{}', '01ARYZ6S41TSV4RRFFQ69G5FAV'
        )
    $$,
    '23514',
    'new row for relation "odl_patches" violates check constraint "odl_patches_is_array"',
    'a stored inverse patch is an array'
);
select throws_ok(
    $$
        insert into odl.odl_patches (
            tenant_id, doc_id, to_version, from_version, patch_json, inverse_patch, evidence_uris, created_by
        )
        values (
            '01ARYZ6S41TSV4RRFFQ69G5FAV', '01ARYZ6S41TSV4RRFFQ69G5FAV', 2, 1, '[]', '[]',
            '"https://example.com/evidence"', '01ARYZ6S41TSV4RRFFQ69G5FAV'
        )
    $$,
    '23514',
    'new row for relation "odl_patches" violates check constraint "odl_patches_evidence_is_array"',
    'evidence_uris is a JSON array'
);

-- Row-level security: enabled and forced on the tenant tables, so the
-- owner's definer functions are bound too. The registry is shared by all
-- tenants and holds no tenant data.

select results_eq(
    $$
        select c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity
        from pg_catalog.pg_class as c
        where c.oid in (
            'odl.json_schemas'::regclass, 'odl.odl_documents'::regclass,
            'odl.odl_document_versions'::regclass, 'odl.odl_patches'::regclass
        )
        order by c.oid::regclass::text collate "C"
    $$,
    $$
        values
        ('odl.json_schemas', false, false),
        ('odl.odl_document_versions', true, true),
        ('odl.odl_documents', true, true),
        ('odl.odl_patches', true, true)
    $$,
    'RLS is enabled and forced on odl_documents, odl_document_versions and odl_patches'
);
select policies_are('odl', 'odl_documents', array['tenant_isolation']);
select policies_are('odl', 'odl_document_versions', array['tenant_isolation']);
select policies_are('odl', 'odl_patches', array['tenant_isolation']);
select set_eq(
    $$
        select
            tablename::text collate "default", cmd::text collate "default", permissive::text collate "default",
            roles::text collate "default", qual, with_check
        from pg_catalog.pg_policies
        where schemaname = 'odl' and tablename in ('odl_documents', 'odl_document_versions', 'odl_patches')
    $$,
    $$
        select t, 'ALL' as cmd, 'PERMISSIVE' as permissive, '{public}' as roles, q.e as qual, q.e as with_check
        from
            unnest(array['odl_documents', 'odl_document_versions', 'odl_patches']) as t,
            (
                values (
                    '((tenant_id)::text = ( SELECT c.tenant_id
   FROM odl.current_context c))'
                )
            ) as q (e)
    $$,
    'tenant_isolation binds every role and command to the context''s tenant, for reads and writes'
);

-- Privileges: odl_app reads and writes documents only through the API.

select table_privs_are('odl', 'json_schemas', 'odl_app', array[]::text[]);
select table_privs_are('odl', 'odl_documents', 'odl_app', array[]::text[]);
select table_privs_are('odl', 'odl_document_versions', 'odl_app', array[]::text[]);
select table_privs_are('odl', 'odl_patches', 'odl_app', array[]::text[]);
select is_empty(
    $$
        select c.oid::regclass::text, a.grantee::regrole::text, a.privilege_type
        from pg_catalog.pg_class as c
        cross join lateral pg_catalog.aclexplode(c.relacl) as a
        where c.oid in (
            'odl.json_schemas'::regclass, 'odl.odl_documents'::regclass,
            'odl.odl_document_versions'::regclass, 'odl.odl_patches'::regclass
        )
            and a.grantee <> 'odl_owner'::regrole
    $$,
    'no role but the owner holds a privilege on the document tables (PUBLIC neither)'
);
select ok(
    (
        select bool_and(c.relacl is not null)
        from pg_catalog.pg_class as c
        where c.oid in (
            'odl.json_schemas'::regclass, 'odl.odl_documents'::regclass,
            'odl.odl_document_versions'::regclass, 'odl.odl_patches'::regclass
        )
    ),
    'the document tables have explicit ACLs (a null ACL would mean the owner''s defaults)'
);

-- The schema registry holds ODL-SD 4.1 under its own $id (odl-db's, not the spec's).

select results_eq(
    $$
        select
            version,
            schema_id,
            schema ->> '$schema',
            content_hash = odl.odl_content_hash(schema)
        from odl.json_schemas
        order by version
    $$,
    $$
        values (
            '4.1',
            'https://odl-db.invalid/odl-db/schemas/odl-sd-4.1.schema.json',
            'https://json-schema.org/draft/2020-12/schema',
            true
        )
    $$,
    'the registry holds version 4.1, keyed by its $id, a draft 2020-12 schema with its content hash'
);

-- The SQLSTATEs of the document API.

select set_eq(
    $$select sqlstate, name from odl.error_codes where sqlstate ~ '^OD[PVSD]'$$,
    $$
        values
        ('ODP01', 'malformed_patch'),
        ('ODP02', 'too_many_operations'),
        ('ODP03', 'path_not_found'),
        ('ODP04', 'test_failed'),
        ('ODV01', 'version_conflict'),
        ('ODS01', 'schema_invalid'),
        ('ODS02', 'integrity_violation'),
        ('ODD01', 'unknown_document'),
        ('ODD02', 'unknown_project'),
        ('ODD03', 'unknown_version')
    $$,
    'odl.error_codes registers ODP01-ODP04, ODV01, ODS01, ODS02 and ODD01-ODD03'
);
select is_empty(
    $$
        select sqlstate from odl.error_codes
        where sqlstate ~ '^OD[PVSD]' and coalesce(meaning, '') = ''
    $$,
    'each document SQLSTATE says what it means'
);

select * from finish();
rollback;
