-- Deploy odl-db:documents_v2 to pg
-- requires: documents_api@v0.1.0
-- The document store's second shape: documents compressed with lz4, no
-- whole-document GIN index (no API function used it, and every write paid
-- for it), the JSON pointers each version changed, and the projectors that
-- keep derived tables equal to the documents.

begin;

-- lz4 compresses and decompresses many times faster than pglz; values
-- written from now on use it (a document is rewritten by its next patch).
alter table odl.odl_documents alter column doc_json set compression lz4;
alter table odl.odl_document_versions alter column doc_json set compression lz4;
drop index odl.odl_documents_doc_json_idx;
-- Every patch rewrites the current document, leaving its old TOAST value
-- dead until a vacuum frees it for reuse: vacuum the documents by the
-- count of dead rows and chunks, however many documents there are.
alter table odl.odl_documents set (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 200,
    toast.autovacuum_vacuum_scale_factor = 0,
    toast.autovacuum_vacuum_threshold = 2000
);

-- The change feed: what each version changed, and the transaction that
-- wrote it, which orders the feed (see odl_changes_since()).
-- Versions stored before v2 read xid 0 (a constant default adds the column
-- without rewriting the table), so they come first in the feed; every
-- later version gets the id of the transaction that writes it.
alter table odl.odl_document_versions
add column changed_pointers text[],
add column xid xid8 not null default '0';
alter table odl.odl_document_versions alter column xid set default pg_current_xact_id();
create index odl_document_versions_feed_idx on odl.odl_document_versions (tenant_id, xid, version_id);
comment on column odl.odl_document_versions.changed_pointers is
'The JSON pointers this version changed, none under another; an add or remove inside an array counts as a '
'change of the whole array; {""} for a new document or a replaced root; null for versions written before v2';
comment on column odl.odl_document_versions.xid is
'The change feed''s order: the id of the transaction that wrote the version, or the previous version''s when '
'larger (0 before v2)';

-- Projectors: functions the writer calls in its own transaction after it
-- stored a version, with (tenant_id, doc_id, project_id, version, document,
-- changed_pointers). Later capabilities register here instead of editing
-- the writer.
create table odl.document_projectors (
    projector text primary key,
    handler regprocedure not null,
    run_order integer not null unique,
    enabled boolean not null default true,
    registered_at timestamptz not null default now(),
    constraint document_projectors_name_format check (projector ~ '^[a-z][a-z0-9_]*$')
);
comment on constraint document_projectors_name_format on odl.document_projectors is
'A projector''s name is a lower-case identifier';
comment on table odl.document_projectors is
'Functions the document writer calls, in run_order, after each stored version: '
'handler(tenant_id text, doc_id text, project_id text, version integer, doc jsonb, changed_pointers text[])';

-- The first projector's table: every instance of every current document.
create table odl.document_instances (
    tenant_id odl.ulid not null,
    doc_id odl.ulid not null,
    instance_id text not null,
    project_id odl.ulid not null,
    position integer not null,
    type_ref text,
    parent_ref text,
    lifecycle_status text,
    location jsonb,
    lat double precision generated always as (
        case when jsonb_typeof(location -> 'lat') = 'number' then (location ->> 'lat')::double precision end
    ) stored,
    lon double precision generated always as (
        case when jsonb_typeof(location -> 'lon') = 'number' then (location ->> 'lon')::double precision end
    ) stored,
    primary key (tenant_id, doc_id, instance_id),
    foreign key (tenant_id, doc_id) references odl.odl_documents (tenant_id, doc_id) on delete cascade,
    foreign key (tenant_id, project_id) references odl.projects (tenant_id, project_id) on delete cascade
);
-- The projector re-projects changed positions of a document.
create index document_instances_position_idx on odl.document_instances (tenant_id, doc_id, position);
-- What analysts ask: a project's instances of a type, or in a state.
create index document_instances_project_type_idx on odl.document_instances (tenant_id, project_id, type_ref);
create index document_instances_project_status_idx
on odl.document_instances (tenant_id, project_id, lifecycle_status);
comment on table odl.document_instances is
'Projection of /instances of every current document, kept equal to it by the instances projector';
comment on column odl.document_instances.position is 'The instance''s index in /instances';
comment on column odl.document_instances.location is 'The instance''s location as written (lat, lon, elevation_m)';
comment on column odl.document_instances.lat is 'location.lat as a number (null when absent or not a number)';
comment on column odl.document_instances.lon is 'location.lon as a number (null when absent or not a number)';

alter table odl.document_instances enable row level security;
alter table odl.document_instances force row level security;
create policy tenant_isolation on odl.document_instances
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

revoke all on odl.document_projectors, odl.document_instances from public;

call odl.adopt_objects();

commit;
