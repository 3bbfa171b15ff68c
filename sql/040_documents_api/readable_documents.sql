-- Analysts read documents through this view, with the rules of
-- odl_get_document(): it runs as its owner under RLS (the context's
-- tenant only), lists the documents of projects where the reader holds R
-- on some section, and redacts each one for the reader. As a security
-- barrier, it filters before any condition of the reader's query runs: a
-- function of theirs in a WHERE clause never sees a row filtered out.

create or replace view odl.readable_documents
with (security_barrier)
as
select
    d.doc_id,
    d.project_id,
    d.version,
    d.doc_hash,
    d.schema_version,
    d.valid_from,
    r.document,
    r.redacted
from odl.odl_documents as d
inner join odl.projects as p on d.tenant_id = p.tenant_id and d.project_id = p.project_id
cross join lateral odl.redact(odl.document_json(d), p.node_id) as r
where odl.readable_project(d.project_id);

revoke all on odl.readable_documents from public;
grant select on odl.readable_documents to odl_analyst;
-- A view checks EXECUTE on the functions it calls against its reader. These
-- run with the reader's rights, under RLS, and only ever remove content.
grant execute on function
odl.require_context(), odl.user_roles(text, text, timestamptz), odl.user_rights(text, text), odl.role_rights(text[]),
odl.readable_project(text), odl.redact(jsonb, text), odl.jsonb_without(jsonb, text[])
to odl_analyst;
comment on view odl.readable_documents is
'The current documents the reader may read, each redacted as odl_get_document() would (odl_analyst)';
