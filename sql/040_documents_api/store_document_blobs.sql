-- The writer stores the blobs of a version kept in its storage form: new
-- ones inserted (content-addressed, so a blob already there is the same),
-- then every blob the version references checked present. The lock (row
-- share, as SELECT FOR SHARE takes) waits for odl.blob_purge(), which takes
-- the table exclusively, so a purge never removes a blob a writer is about
-- to reference.
create or replace function odl.store_document_blobs(
    tenant_id text, doc_id text, external jsonb, blob_hashes text[], blob_texts text[]
)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    referenced text[];
    missing text;
begin
    lock table odl.document_blobs in row share mode;
    insert into odl.document_blobs (tenant_id, sha256, content, size_bytes)
    select store_document_blobs.tenant_id, b.sha256, b.content::jsonb, octet_length(b.content)
    from unnest(blob_hashes, blob_texts) as b (sha256, content)
    on conflict do nothing;
    referenced := array(
        select distinct h.sha256
        from jsonb_each(external) as e
        cross join lateral jsonb_array_elements_text(e.value) as h (sha256)
    );
    select r.sha256 into missing
    from unnest(referenced) as r (sha256)
    where not exists (
        select from odl.document_blobs as b
        where b.tenant_id = store_document_blobs.tenant_id and b.sha256 = r.sha256
    )
    limit 1;
    if missing is not null then
        -- The backend's cached state named it: the retry reads the document.
        perform odl.forget_cached_document(doc_id);
        raise exception using
            errcode = 'ODB01',
            message = 'document references a blob that is missing',
            detail = format('sha256 %s', missing),
            hint = 'A purge removed a blob this backend still held; retry the write.';
    end if;
end
$$;

revoke all on function odl.store_document_blobs(text, text, jsonb, text[], text[]) from public;
comment on function odl.store_document_blobs(text, text, jsonb, text[], text[]) is
'Inserts the new blobs of a version stored with sub-trees outside and checks that every blob its external column '
'names is present (ODB01 otherwise); waits for a running odl.blob_purge()';
