-- What an application needs to write: the current version and hash of its
-- documents (odl_app cannot read the storage tables).

create or replace function odl.odl_document_heads(project_id text default null)
returns table (
    doc_id text,
    project_id text,
    version integer,
    doc_hash text,
    schema_version text,
    valid_from timestamptz,
    updated_by text
)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select d.doc_id, d.project_id, d.version, d.doc_hash, d.schema_version, d.valid_from, d.updated_by
    from odl.odl_documents as d
    where odl_document_heads.project_id is null or d.project_id = odl_document_heads.project_id
    order by d.doc_id
$$;

revoke all on function odl.odl_document_heads(text) from public;
grant execute on function odl.odl_document_heads(text) to odl_app, odl_analyst;
comment on function odl.odl_document_heads(text) is
'The current version and hash of each document of the tenant (of one project when given)';
