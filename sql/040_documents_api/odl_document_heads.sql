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
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- A patch's intent and evidence describe what it changed: shown only to a
-- reader who may read all of that (every path and from of the patch, with
-- all below them), by the rules of odl_get_document(). (PL/pgSQL: the
-- redaction functions it calls are deployed after it.)
begin
    return query
    with doc as (
        select d.doc_id, p.node_id
        from odl.odl_documents as d
        inner join odl.projects as p on d.tenant_id = p.tenant_id and d.project_id = p.project_id
        where d.doc_id = odl_document_history.doc_id and odl.readable_project(d.project_id)
    )

    select
        v.version,
        v.doc_hash,
        v.created_at,
        v.created_by::text,
        case when x.shown then p.intent end,
        p.tool_version,
        case when x.shown then p.evidence_uris end,
        jsonb_array_length(p.patch_json)
    from doc
    cross join lateral odl.reader_scope(doc.node_id) as s
    inner join odl.odl_document_versions as v on v.doc_id = doc.doc_id
    left join odl.odl_patches as p
        on v.tenant_id = p.tenant_id and v.doc_id = p.doc_id and v.version = p.to_version
    cross join lateral (
        select
            p.patch_json is null or s.reads_all
            or odl.pointers_readable(odl.patch_pointers(p.patch_json), s.readable_keys, s.hidden_parts) as shown
    ) as x
    order by v.version;
end
$$;

revoke all on function odl.odl_document_history(text) from public;
grant execute on function odl.odl_document_history(text) to odl_app, odl_analyst;
comment on function odl.odl_document_history(text) is
'Every version of a document: its hash, author and time, and the intent, tool, evidence and size of the patch '
'that made it; intent and evidence are null unless the caller may read all that the patch touched';
