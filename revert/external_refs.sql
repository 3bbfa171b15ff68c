-- Revert odl-db:external_refs from pg
-- Every document and snapshot kept with sub-trees outside is first written
-- whole again, so no content is lost with the blobs.

begin;

set local row_security = off;
update odl.odl_documents
set doc_json = odl.document_resolved(tenant_id, doc_json, external), external = null
where external is not null;
update odl.odl_document_versions
set doc_json = odl.document_resolved(tenant_id, doc_json, external), external = null
where external is not null;

alter table odl.odl_document_versions drop column external;
alter table odl.odl_documents drop column external;
drop table odl.document_blobs;

commit;
