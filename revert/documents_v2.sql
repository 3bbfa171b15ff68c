-- Revert odl-db:documents_v2 from pg

begin;

-- What is lost: the changed pointers of versions written since.
\set data_tables 'odl.odl_document_versions where changed_pointers is not null'
\ir lib/refuse_data_loss.psql

drop table odl.document_instances;
drop table odl.document_projectors;
drop index odl.odl_document_versions_feed_idx;
alter table odl.odl_document_versions drop column changed_pointers, drop column xid;
create index odl_documents_doc_json_idx on odl.odl_documents using gin (doc_json jsonb_path_ops);
alter table odl.odl_documents reset (
    autovacuum_vacuum_scale_factor,
    autovacuum_vacuum_threshold,
    toast.autovacuum_vacuum_scale_factor,
    toast.autovacuum_vacuum_threshold
);
alter table odl.odl_document_versions alter column doc_json set compression default;
alter table odl.odl_documents alter column doc_json set compression default;

commit;
