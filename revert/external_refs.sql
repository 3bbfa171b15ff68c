-- Revert odl-db:external_refs from pg
-- The revert of documents_api (later in the plan, so reverted first) wrote
-- every document and snapshot whole again; none may still name a blob.

begin;

set local row_security = off;
do $$
begin
    if exists (select from odl.odl_documents where external is not null)
        or exists (select from odl.odl_document_versions where external is not null)
    then
        raise exception 'documents still keep sub-trees outside: revert documents_api first, which writes them whole';
    end if;
end
$$;

alter table odl.odl_document_versions drop column external;
alter table odl.odl_documents drop column external;
drop table odl.document_blobs;

commit;
