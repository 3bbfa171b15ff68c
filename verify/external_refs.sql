-- Verify odl-db:external_refs on pg

select tenant_id, sha256, content, size_bytes, stored_at from odl.document_blobs where false;
select external from odl.odl_documents where false;
select external from odl.odl_document_versions where false;
select 1 / count(*) from pg_catalog.pg_constraint where conname = 'odl_documents_external';
select 1 / count(*) from pg_catalog.pg_constraint where conname = 'odl_document_versions_external';
-- Under enabled and forced RLS, with its policy.
select 1 / count(*)
from pg_catalog.pg_class as c
where c.oid = 'odl.document_blobs'::regclass and c.relrowsecurity and c.relforcerowsecurity;
select 1 / count(*) from pg_catalog.pg_policies
where schemaname = 'odl' and tablename = 'document_blobs' and policyname = 'tenant_isolation';
