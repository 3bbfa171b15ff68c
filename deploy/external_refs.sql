-- Deploy odl-db:external_refs to pg
-- requires: documents_v2
-- requires: tenancy
-- Sub-trees of a document kept outside its row as content-addressed blobs
-- (odl_db.documents, "Sub-trees outside the document"): the blobs, and the
-- column of odl_documents and odl_document_versions naming them.

begin;

create table odl.document_blobs (
    tenant_id odl.ulid not null,
    sha256 text not null,
    content jsonb not null,
    size_bytes integer not null,
    stored_at timestamptz not null default now(),
    primary key (tenant_id, sha256),
    foreign key (tenant_id) references odl.tenants (tenant_id) on delete cascade,
    constraint document_blobs_address check (sha256 ~ '^[0-9a-f]{64}$'),
    constraint document_blobs_container check (jsonb_typeof(content) in ('array', 'object'))
);
alter table odl.document_blobs alter column content set compression lz4;
comment on table odl.document_blobs is
'Sub-trees documents keep outside their row: a segment of elements of an array (at most 1,000) or a whole array '
'or object, addressed by the SHA-256 of its RFC 8785 text, so immutable. Written only by the document API; '
'odl.blob_purge() removes those no document or snapshot names';
comment on column odl.document_blobs.sha256 is
'Hex SHA-256 of the RFC 8785 canonical text of content: two equal sub-trees of a tenant are one blob';
comment on column odl.document_blobs.size_bytes is 'Length of the JSON text the writer stored';
comment on constraint document_blobs_address on odl.document_blobs is 'A blob''s address is a hex SHA-256';
comment on constraint document_blobs_container on odl.document_blobs is
'Only an array (a segment) or an object is kept outside';

alter table odl.document_blobs enable row level security;
alter table odl.document_blobs force row level security;
create policy tenant_isolation on odl.document_blobs
using (tenant_id = (select c.tenant_id from odl.current_context as c))
with check (tenant_id = (select c.tenant_id from odl.current_context as c));

alter table odl.odl_documents add column external jsonb;
alter table odl.odl_documents add constraint odl_documents_external
check (external is null or jsonb_typeof(external) = 'object');
comment on column odl.odl_documents.external is
'Null for a document stored whole. Otherwise the sub-trees doc_json holds only as an empty array or object, '
'pointer -> the addresses (sha256) of their blobs in odl.document_blobs, in order; odl.document_resolved() puts '
'them back. doc_hash is the hash of the resolved document';
comment on constraint odl_documents_external on odl.odl_documents is 'external maps JSON pointers to blob addresses';

alter table odl.odl_document_versions add column external jsonb;
alter table odl.odl_document_versions add constraint odl_document_versions_external
check (external is null or jsonb_typeof(external) = 'object' and doc_json is not null);
comment on column odl.odl_document_versions.external is
'For a snapshot (doc_json not null) stored with sub-trees outside: as odl_documents.external';
comment on constraint odl_document_versions_external on odl.odl_document_versions is
'Only a snapshot names blobs, as odl_documents.external does';

call odl.adopt_objects();

commit;
