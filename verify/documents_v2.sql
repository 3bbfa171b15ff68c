-- Verify odl-db:documents_v2 on pg

select changed_pointers, xid from odl.odl_document_versions where false;
select projector, handler, run_order, enabled, registered_at from odl.document_projectors where false;
select
    tenant_id, doc_id, instance_id, project_id, position, type_ref, parent_ref, lifecycle_status, location, lat, lon
from odl.document_instances where false;
select 1 / (a.attcompression = 'l')::int
from pg_catalog.pg_attribute as a
where a.attrelid = 'odl.odl_documents'::regclass and a.attname = 'doc_json';
select 1 / (c.relrowsecurity and c.relforcerowsecurity)::int
from pg_catalog.pg_class as c where c.oid = 'odl.document_instances'::regclass;
