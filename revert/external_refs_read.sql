-- Revert odl-db:external_refs_read from pg

begin;

drop function odl.document_json(odl.odl_documents);
drop function odl.document_resolved(text, jsonb, jsonb);
drop function odl.document_put_back(text, jsonb, jsonb);

commit;
