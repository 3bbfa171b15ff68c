-- Documents that keep sub-trees outside their row (odl_db.documents,
-- "Sub-trees outside the document"): doc_json holds each such sub-tree as an
-- empty array or object, and the column external names it, pointer -> the
-- SHA-256 of its blobs in odl.document_blobs (table of change external_refs),
-- in order. Every reader of a whole stored document resolves it here, so
-- that it sees the document it saw before: external is null for a document
-- stored whole, and then doc_json is returned as it is.

create or replace function odl.document_resolved(tenant_id text, doc jsonb, external jsonb)
returns jsonb
language plpgsql
stable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    part record;
    steps text[];
    -- Each sub-tree is put back as text: the stored document gets a marker
    -- string at each pointer, the markers are replaced by the blobs' texts
    -- and the whole is parsed once, which costs one parse of what the blobs
    -- hold rather than a parse and a jsonb_set() pass over it. The marker
    -- holds the SHA-256 of the stored document's text, which no string of
    -- that document can hold.
    marker text := 'odl-external-' || encode(sha256(convert_to(doc::text, 'UTF8')), 'hex') || '-';
    parts text[] := '{}';
    whole text;
    found_blobs integer;
begin
    if external is null then
        return doc;
    end if;
    for part in
        select e.key as pointer, e.value as hashes, row_number() over (order by e.key) as n
        from jsonb_each(external) as e
        order by n
    loop
        steps := odl.pointer_steps(part.pointer);
        if jsonb_typeof(doc #> steps) = 'array' then
            -- The segments in order, their elements joined.
            select '[' || string_agg(substr(c.t, 2, length(c.t) - 2), ', ' order by segment.n) || ']', count(*)
            into whole, found_blobs
            from jsonb_array_elements_text(part.hashes) with ordinality as segment (sha256, n)
            inner join odl.document_blobs as b
                on b.tenant_id = document_resolved.tenant_id and b.sha256 = segment.sha256
            cross join lateral (select b.content::text as t) as c;
        else
            select b.content::text, 1 into whole, found_blobs
            from odl.document_blobs as b
            where b.tenant_id = document_resolved.tenant_id and b.sha256 = part.hashes ->> 0;
        end if;
        if coalesce(found_blobs, 0) <> jsonb_array_length(part.hashes) or doc #> steps is null then
            raise exception using
                errcode = 'ODB01',
                message = 'document references a blob that is missing',
                detail = format('pointer %s', part.pointer);
        end if;
        doc := jsonb_set(doc, steps, to_jsonb(marker || part.n));
        parts[part.n] := whole;
    end loop;
    whole := doc::text;
    for part in select p.text, p.n from unnest(parts) with ordinality as p (text, n) loop
        whole := replace(whole, '"' || marker || part.n || '"', part.text);
    end loop;
    return whole::jsonb;
end
$$;

revoke all on function odl.document_resolved(text, jsonb, jsonb) from public;
comment on function odl.document_resolved(text, jsonb, jsonb) is
'A stored document (doc_json of odl_documents or odl_document_versions) with every sub-tree its external column '
'keeps outside put back from odl.document_blobs; doc unchanged when external is null. ODB01 when a blob is missing';

-- Analysts' views call this with their rows: it reads the blobs as the
-- owner (under RLS: the context's tenant), and only for a document the
-- reader may read, so a row made up by hand yields nothing it did not hold.
create or replace function odl.document_json(d odl.odl_documents)
returns jsonb
language plpgsql
stable
parallel safe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    stored record;
begin
    if d.external is null then
        return d.doc_json;
    end if;
    select s.tenant_id, s.project_id, s.doc_json, s.external into stored
    from odl.odl_documents as s
    where s.tenant_id = d.tenant_id and s.doc_id = d.doc_id;
    if not found or not odl.readable_project(stored.project_id) then
        return null;
    end if;
    return odl.document_resolved(stored.tenant_id, stored.doc_json, stored.external);
end
$$;

revoke all on function odl.document_json(odl.odl_documents) from public;
grant execute on function odl.document_json(odl.odl_documents) to odl_analyst;
comment on function odl.document_json(odl.odl_documents) is
'The whole current document of a row of odl_documents (odl.document_resolved), for views: null unless the '
'context''s user may read the document''s project';

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
