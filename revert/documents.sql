-- Revert odl-db:documents from pg

begin;

\set data_tables 'odl.odl_documents,odl.odl_document_versions,odl.odl_patches'
\ir lib/refuse_data_loss.psql

drop table odl.odl_patches;
drop table odl.odl_document_versions;
drop table odl.odl_documents;
drop table odl.json_schemas;

commit;
