-- What an application needs to write: the current version and hash of its
-- documents (odl_app cannot read the storage tables). Both functions list
-- only documents of projects where the caller may read something
-- (odl.readable_project).

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
    where (odl_document_heads.project_id is null or d.project_id = odl_document_heads.project_id)
        and odl.readable_project(d.project_id)
    order by d.doc_id
$$;

revoke all on function odl.odl_document_heads(text) from public;
grant execute on function odl.odl_document_heads(text) to odl_app, odl_analyst;
comment on function odl.odl_document_heads(text) is
'The current version and hash of each document of the tenant (of one project when given) that the caller may '
'read';

create or replace function odl.odl_document_history(doc_id text)
returns table (
    version integer,
    doc_hash text,
    created_at timestamptz,
    created_by text,
    intent text,
    tool_version text,
    evidence_uris jsonb,
    operations integer
)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select
        v.version,
        v.doc_hash,
        v.created_at,
        v.created_by,
        p.intent,
        p.tool_version,
        p.evidence_uris,
        jsonb_array_length(p.patch_json)
    from odl.odl_document_versions as v
    left join odl.odl_patches as p
        on v.tenant_id = p.tenant_id and v.doc_id = p.doc_id and v.version = p.to_version
    where v.doc_id = odl_document_history.doc_id
        and odl.readable_project((select d.project_id from odl.odl_documents as d where d.doc_id = v.doc_id))
    order by v.version
$$;

revoke all on function odl.odl_document_history(text) from public;
grant execute on function odl.odl_document_history(text) to odl_app, odl_analyst;
comment on function odl.odl_document_history(text) is
'Every version of a document: its hash, author and time, and the intent and size of the patch that made it';
