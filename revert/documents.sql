-- Revert odl-db:documents from pg

begin;

drop table odl.odl_patches;
drop table odl.odl_document_versions;
drop table odl.odl_documents;
drop table odl.json_schemas;

commit;
