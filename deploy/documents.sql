-- Deploy odl-db:documents to pg
-- requires: tenancy
-- ODL-SD documents: the current version, its history (periodic snapshots),
-- and every patch with its exact inverse. History is append-only.

begin;

-- JSON Schemas, keyed by $id and by the schema_version documents carry.
create table odl.json_schemas (
    schema_id text not null,
    version text not null,
    schema jsonb not null,
    content_hash text not null,
    registered_at timestamptz not null default now(),
    primary key (schema_id, version),
    constraint json_schemas_version_key unique (version),
    constraint json_schemas_id_matches check (schema ->> '$id' = schema_id),
    constraint json_schemas_hash_format check (content_hash ~ '^sha256:[0-9a-f]{64}$')
);
comment on table odl.json_schemas is
'Schema registry: a document''s schema_version selects its JSON Schema (draft 2020-12)';
comment on column odl.json_schemas.content_hash is 'RFC 8785 hash of the schema; validators are cached by it';
comment on constraint json_schemas_id_matches on odl.json_schemas is 'schema_id is the schema''s own $id';
comment on constraint json_schemas_hash_format on odl.json_schemas is 'An ODL-SD content hash';

create table odl.odl_documents (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null default odl.odl_ulid(),
    project_id odl.ulid not null,
    schema_version text not null references odl.json_schemas (version),
    doc_json jsonb not null,
    doc_hash text not null,
    version integer not null,
    valid_from timestamptz not null default now(),
    created_by odl.ulid not null,
    created_at timestamptz not null default now(),
    updated_by odl.ulid not null,
    primary key (tenant_id, doc_id),
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade,
    foreign key (tenant_id, created_by) references odl.users (tenant_id, user_id),
    foreign key (tenant_id, updated_by) references odl.users (tenant_id, user_id),
    constraint odl_documents_version_positive check (version >= 1),
    constraint odl_documents_hash_format check (doc_hash ~ '^sha256:[0-9a-f]{64}$')
);
create index odl_documents_tenant_id_project_id_idx on odl.odl_documents (tenant_id, project_id);
create index odl_documents_tenant_id_created_by_idx on odl.odl_documents (tenant_id, created_by);
create index odl_documents_tenant_id_updated_by_idx on odl.odl_documents (tenant_id, updated_by);
create index odl_documents_doc_json_idx on odl.odl_documents using gin (doc_json jsonb_path_ops);
comment on table odl.odl_documents is
'The current version of each ODL-SD document, stored exactly as written; version and hash live in columns';
comment on column odl.odl_documents.doc_hash is 'RFC 8785 content hash, "sha256:<hex>"';
comment on column odl.odl_documents.valid_from is 'When the current version was written';
comment on constraint odl_documents_version_positive on odl.odl_documents is 'Versions count from 1';
comment on constraint odl_documents_hash_format on odl.odl_documents is 'An ODL-SD content hash';

create table odl.odl_document_versions (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null,
    version integer not null,
    version_id bigint generated always as identity,
    doc_hash text not null,
    doc_json jsonb,
    created_at timestamptz not null default now(),
    created_by odl.ulid not null,
    primary key (tenant_id, doc_id, version),
    foreign key (tenant_id, doc_id) references odl.odl_documents (tenant_id, doc_id) on delete cascade,
    foreign key (tenant_id, created_by) references odl.users (tenant_id, user_id),
    constraint odl_document_versions_hash_format check (doc_hash ~ '^sha256:[0-9a-f]{64}$')
);
comment on table odl.odl_document_versions is
'One row per version of a document; doc_json holds a full snapshot for version 1 and every 100th version';
comment on column odl.odl_document_versions.doc_json is
'Snapshot, or null: the version is rebuilt from the nearest snapshot and the patches';
comment on constraint odl_document_versions_hash_format on odl.odl_document_versions is 'An ODL-SD content hash';

create table odl.odl_patches (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null,
    to_version integer not null,
    patch_id bigint generated always as identity,
    from_version integer not null,
    patch_json jsonb not null,
    inverse_patch jsonb not null,
    evidence_uris jsonb not null default '[]',
    intent text,
    tool_version text,
    dry_run boolean not null default false,
    created_at timestamptz not null default now(),
    created_by odl.ulid not null,
    primary key (tenant_id, doc_id, to_version),
    foreign key (tenant_id, doc_id, to_version)
    references odl.odl_document_versions (tenant_id, doc_id, version) on delete cascade,
    foreign key (tenant_id, created_by) references odl.users (tenant_id, user_id),
    constraint odl_patches_consecutive check (to_version = from_version + 1),
    constraint odl_patches_is_array check (
        jsonb_typeof(patch_json) = 'array' and jsonb_typeof(inverse_patch) = 'array'
    ),
    constraint odl_patches_evidence_is_array check (jsonb_typeof(evidence_uris) = 'array')
);
comment on table odl.odl_patches is
'Every applied RFC 6902 patch with its exact inverse; replaying them rebuilds any version';
-- The history tables have no index on created_by: users who authored
-- history are never deleted, and each index would tax every write.
comment on column odl.odl_patches.dry_run is 'Kept from the design; dry runs write nothing, so it is always false';
comment on constraint odl_patches_consecutive on odl.odl_patches is 'A patch moves a document one version on';
comment on constraint odl_patches_is_array on odl.odl_patches is 'RFC 6902 patches are arrays';
comment on constraint odl_patches_evidence_is_array on odl.odl_patches is 'A JSON array of URIs';

-- Forced RLS on every tenant table. History is append-only for everyone
-- but its owner's definer functions, which only insert.
alter table odl.odl_documents enable row level security;
alter table odl.odl_documents force row level security;
create policy tenant_isolation on odl.odl_documents
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

alter table odl.odl_document_versions enable row level security;
alter table odl.odl_document_versions force row level security;
create policy tenant_isolation on odl.odl_document_versions
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

alter table odl.odl_patches enable row level security;
alter table odl.odl_patches force row level security;
create policy tenant_isolation on odl.odl_patches
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

revoke all on odl.json_schemas, odl.odl_documents, odl.odl_document_versions, odl.odl_patches from public;

call odl.adopt_objects();

commit;
