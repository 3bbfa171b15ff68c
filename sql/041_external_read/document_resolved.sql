-- Documents that keep sub-trees outside their row (odl_db.documents,
-- "Sub-trees outside the document"): doc_json holds each such sub-tree as an
-- empty array or object, and the column external names it, pointer -> the
-- SHA-256 of its blobs in odl.document_blobs (table of change external_refs),
-- in order. Every reader of a whole stored document resolves it here, so
-- that it sees the document it saw before: external is null for a document
-- stored whole, and then doc_json is returned as it is.

create or replace function odl.document_put_back(tenant_id text, doc jsonb, external jsonb)
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
                on b.tenant_id = document_put_back.tenant_id and b.sha256 = segment.sha256
            cross join lateral (select b.content::text as t) as c;
        else
            select b.content::text, 1 into whole, found_blobs
            from odl.document_blobs as b
            where b.tenant_id = document_put_back.tenant_id and b.sha256 = part.hashes ->> 0;
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

revoke all on function odl.document_put_back(text, jsonb, jsonb) from public;
comment on function odl.document_put_back(text, jsonb, jsonb) is
'A stored document kept with sub-trees outside, every one put back from odl.document_blobs (for '
'odl.document_resolved()). ODB01 when a blob is missing';

-- What every reader calls. A plain SQL expression, which the planner
-- inlines into the reader's query (so no SET clause: it would stop that),
-- so that a document stored whole is passed on as it is, never detoasted
-- or copied into a function's variable.
create or replace function odl.document_resolved(tenant_id text, doc jsonb, external jsonb)
returns jsonb
language sql
stable
parallel safe
security invoker
as $$
    select case when external is null then doc else odl.document_put_back(tenant_id, doc, external) end
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
