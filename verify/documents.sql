-- Verify odl-db:documents on pg

select schema_id, version, schema, content_hash, registered_at from odl.json_schemas where false;
select
    tenant_id, doc_id, project_id, schema_version, doc_json, doc_hash, version, valid_from,
    created_by, created_at, updated_by
from odl.odl_documents where false;
select tenant_id, doc_id, version, version_id, doc_hash, doc_json, created_at, created_by
from odl.odl_document_versions where false;
select
    tenant_id, doc_id, to_version, patch_id, from_version, patch_json, inverse_patch, evidence_uris,
    intent, tool_version, dry_run, created_at, created_by
from odl.odl_patches where false;
select 1 / (count(*) = 3)::int
from pg_catalog.pg_class as c
where
    c.oid in ('odl.odl_documents'::regclass, 'odl.odl_document_versions'::regclass, 'odl.odl_patches'::regclass)
    and c.relrowsecurity
    and c.relforcerowsecurity;
