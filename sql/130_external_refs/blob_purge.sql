-- Blobs are never updated, and a patch writes new ones beside the old: a
-- blob that neither a current document nor a snapshot names is garbage
-- (a past version is rebuilt from a snapshot and the patches, never from
-- blobs). The purge takes the table exclusively, so writers, which lock it
-- in row share mode before they insert or reuse a blob
-- (odl.store_document_blobs), wait for it and it for them; readers go on.
create or replace function odl.blob_purge()
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    purged integer;
begin
    lock table odl.document_blobs in exclusive mode;
    with referenced as (
        select d.tenant_id, h.sha256
        from odl.odl_documents as d
        cross join lateral jsonb_each(d.external) as e
        cross join lateral jsonb_array_elements_text(e.value) as h (sha256)
        where d.external is not null
        union
        select v.tenant_id, h.sha256
        from odl.odl_document_versions as v
        cross join lateral jsonb_each(v.external) as e
        cross join lateral jsonb_array_elements_text(e.value) as h (sha256)
        where v.external is not null
    )

    delete from odl.document_blobs as b
    where not exists (select from referenced as r where r.tenant_id = b.tenant_id and r.sha256 = b.sha256);
    get diagnostics purged = row_count;
    return purged;
end
$$;

revoke all on function odl.blob_purge() from public;
comment on function odl.blob_purge() is
'Deletes the blobs (of every tenant) that no current document nor snapshot names; returns how many. A DBA or a '
'scheduled job runs it as a superuser; writers of documents kept outside wait while it runs';
