-- Every write of a document goes through odl.write_patch(): it locks the
-- row, checks the expected version, has the backend's cached copy of the
-- document patched, validated and hashed (odl.patch_cached_document), then
-- updates the document, appends the version and the patch, runs the
-- projectors and appends to the audit ledger.

-- ODV01 in one place: its detail is a JSON object a program reads without
-- parsing prose.
create or replace function odl.raise_version_conflict(doc_id text, expected_version integer, current_version integer)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    raise exception using
        errcode = 'ODV01',
        message = 'version conflict',
        detail = json_build_object(
            'doc_id', raise_version_conflict.doc_id,
            'expected_version', raise_version_conflict.expected_version,
            'current_version', raise_version_conflict.current_version
        )::text,
        hint = 'Read the current version, rebase the patch on it and retry.';
end
$$;

revoke all on function odl.raise_version_conflict(text, integer, integer) from public;
comment on function odl.raise_version_conflict(text, integer, integer) is
'Raises ODV01 with the detail {"doc_id": ..., "expected_version": ..., "current_version": ...} (JSON)';

create or replace function odl.write_patch(
    doc_id text,
    patch jsonb,
    expected_version integer,
    intent text,
    evidence_uris text[],
    tool_version text,
    dry_run boolean,
    max_operations integer
)
returns table (version integer, doc_hash text, inverse_patch jsonb, document jsonb)
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    -- Every 100th version keeps a full snapshot, so rebuilding any version
    -- replays at most 50 patches (from a snapshot, or back from the current).
    snapshot_interval constant integer := 100;
    context record := odl.require_context();
    current_doc record;
    outcome record;
    new_doc jsonb;
    stored_doc jsonb;
    stored_external jsonb;
    inverse jsonb;
    new_version integer;
    new_xmin text;
    patch_text text := patch::text;
begin
    -- JSON null would reach the engine as "no patch"; refuse it here.
    if jsonb_typeof(patch) is distinct from 'array' then
        raise exception using
            errcode = 'ODP01',
            message = 'a patch must be an array of operations',
            detail = format('got %s', coalesce(jsonb_typeof(patch), 'SQL null'));
    end if;
    if expected_version is null then
        raise exception using
            errcode = '22004',
            message = 'expected_version is required',
            hint = 'Pass the version the patch was written against.';
    end if;

    -- Not the document itself: the engine has it cached, or fetches it.
    if dry_run then
        select d.tenant_id, d.project_id, d.version, d.doc_hash, d.xmin::text as row_xmin, d.external
        into current_doc
        from odl.odl_documents as d where d.doc_id = write_patch.doc_id;
    else
        select d.tenant_id, d.project_id, d.version, d.doc_hash, d.xmin::text as row_xmin, d.external
        into current_doc
        from odl.odl_documents as d where d.doc_id = write_patch.doc_id for update;
    end if;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', write_patch.doc_id);
    end if;
    if current_doc.version <> expected_version then
        perform odl.raise_version_conflict(write_patch.doc_id, expected_version, current_doc.version);
    end if;

    -- The exact size of the patch, now that its text is at hand (a revert's
    -- patch, built from history, is held to document_bytes instead).
    perform odl.check_limit(
        case when max_operations is null then 'document_bytes' else 'patch_bytes' end, octet_length(patch_text),
        'the patch'
    );
    outcome := odl.patch_cached_document(
        write_patch.doc_id, current_doc.version, current_doc.doc_hash, current_doc.row_xmin,
        current_doc.external::text, patch_text, max_operations
    );
    -- A dry run's read found the row replaced: name the version now current.
    if outcome.sqlstate = 'ODV01' then
        perform odl.raise_version_conflict(
            write_patch.doc_id, expected_version,
            (select d.version from odl.odl_documents as d where d.doc_id = write_patch.doc_id)
        );
    end if;
    perform odl.raise_failure(outcome.sqlstate, outcome.message, outcome.detail);
    new_doc := outcome.document_text::jsonb;
    inverse := outcome.inverse_text::jsonb;
    new_version := current_doc.version + 1;

    if dry_run then
        return query select new_version, outcome.doc_hash, inverse, new_doc;
        return;
    end if;

    -- A document that keeps sub-trees outside stores its storage form: the
    -- text without them, the external column and any new blob.
    if outcome.stored_external is not null then
        stored_doc := outcome.stored_text::jsonb;
        stored_external := outcome.stored_external::jsonb;
        perform odl.store_document_blobs(
            current_doc.tenant_id, write_patch.doc_id, stored_external, outcome.blob_hashes, outcome.blob_texts
        );
    else
        stored_doc := new_doc;
    end if;

    update odl.odl_documents as d
    set doc_json = stored_doc,
        external = stored_external,
        doc_hash = outcome.doc_hash,
        schema_version = new_doc ->> 'schema_version',
        version = new_version,
        valid_from = now(),
        updated_by = context.user_id
    where d.tenant_id = current_doc.tenant_id and d.doc_id = write_patch.doc_id
    returning d.xmin::text into new_xmin;
    perform odl.keep_cached_document(write_patch.doc_id, new_version, outcome.doc_hash, new_xmin);

    insert into odl.odl_document_versions (
        tenant_id, doc_id, version, doc_hash, doc_json, external, created_by, changed_pointers
    )
    values (
        current_doc.tenant_id, write_patch.doc_id, new_version, outcome.doc_hash,
        case when new_version % snapshot_interval = 0 then stored_doc end,
        case when new_version % snapshot_interval = 0 then stored_external end,
        context.user_id, outcome.changed_pointers
    );
    insert into odl.odl_patches (
        tenant_id, doc_id, to_version, from_version, patch_json, inverse_patch,
        evidence_uris, intent, tool_version, created_by
    )
    values (
        current_doc.tenant_id, write_patch.doc_id, new_version, current_doc.version, patch,
        inverse, to_jsonb(coalesce(evidence_uris, '{}')), intent, tool_version,
        context.user_id
    );
    perform odl.run_projectors(
        current_doc.tenant_id, write_patch.doc_id, current_doc.project_id, new_version, new_doc,
        outcome.changed_pointers
    );
    -- The ledger names the patch by its hash; odl_patches keeps the patch.
    perform odl.audit_append(
        'patch.applied',
        jsonb_build_object(
            'from_version', current_doc.version, 'to_version', new_version, 'doc_hash', outcome.doc_hash,
            'patch_hash', outcome.patch_hash, 'operations', jsonb_array_length(patch), 'intent', intent
        ),
        current_doc.project_id, write_patch.doc_id
    );

    return query select new_version, outcome.doc_hash, inverse, null::jsonb;
end
$$;

revoke all on function odl.write_patch(text, jsonb, integer, text, text[], text, boolean, integer) from public;
comment on function odl.write_patch(text, jsonb, integer, text, text[], text, boolean, integer) is
'The one writer of documents: lock, check the version, apply, validate, hash, then append history';

-- Every patch that a user submits passes odl.submit_patch(): the rights
-- and phase gates decide whether it is applied now or held as a change
-- request for an approver (odl_approve_change merges it later).
create or replace function odl.submit_patch(
    doc_id text,
    patch jsonb,
    expected_version integer,
    intent text,
    evidence_uris text[],
    tool_version text,
    dry_run boolean,
    propose boolean,
    max_operations integer
)
returns table (
    version integer,
    doc_hash text,
    inverse_patch jsonb,
    document jsonb,
    outcome text,
    change_id text,
    redacted text[]
)
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    target record;
    reason text;
    written record;
    shown_document jsonb;
    shown_redacted text[];
begin
    perform odl.require_context();
    -- The limits first: nothing below may see a patch nested too deeply.
    -- A revert (max_operations null) sends a patch built from history,
    -- held to document_bytes instead of patch_bytes.
    perform odl.check_json(
        patch, null, case when max_operations is null then 'document_bytes' else 'patch_bytes' end, 'the patch', 2
    );
    -- RFC 6902 allows an empty patch (odl_jsonpatch_apply takes one); a new
    -- version, or a change request, must change something.
    if jsonb_typeof(patch) = 'array' and jsonb_array_length(patch) = 0 then
        raise exception using
            errcode = 'ODP01',
            message = 'a patch must have at least one operation';
    end if;
    select d.project_id into target from odl.odl_documents as d where d.doc_id = submit_patch.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', submit_patch.doc_id);
    end if;
    reason := odl.authorize_write(
        target.project_id, odl.patch_pointers(patch), case when propose then 'propose' else 'write' end
    );
    if reason is not null then
        return query
        select * from odl.propose_patch(
            submit_patch.doc_id, patch, expected_version, intent, evidence_uris, tool_version, dry_run, reason,
            max_operations
        );
        return;
    end if;
    select * into written
    from odl.write_patch(submit_patch.doc_id, patch, expected_version, intent, evidence_uris, tool_version, dry_run, max_operations);
    -- Only a dry run returns a document, as its author may read it.
    if dry_run then
        select r.document, r.redacted into shown_document, shown_redacted
        from odl.redact(written.document, (odl.scope_of(target.project_id)).node_id) as r;
    end if;
    return query
    select written.version, written.doc_hash, written.inverse_patch, shown_document, 'applied'::text, null::text,
        shown_redacted;
end
$$;

revoke all on function odl.submit_patch(
    text, jsonb, integer, text, text[], text, boolean, boolean, integer
) from public;
comment on function odl.submit_patch(text, jsonb, integer, text, text[], text, boolean, boolean, integer) is
'Authorizes a patch by the context''s user, then applies it (outcome applied) or holds it as a change request '
'(outcome proposed)';

create or replace function odl.odl_apply_patch(
    doc_id text,
    patch jsonb,
    expected_version integer,
    intent text default null,
    evidence_uris text[] default '{}',
    tool_version text default null,
    dry_run boolean default false,
    propose boolean default false
)
returns table (
    version integer,
    doc_hash text,
    inverse_patch jsonb,
    document jsonb,
    outcome text,
    change_id text,
    redacted text[]
)
language sql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select * from odl.submit_patch(
        doc_id, patch, expected_version, intent, evidence_uris, tool_version, dry_run, propose, 100
    )
$$;

revoke all on function odl.odl_apply_patch(text, jsonb, integer, text, text[], text, boolean, boolean) from public;
grant execute on function odl.odl_apply_patch(text, jsonb, integer, text, text[], text, boolean, boolean) to odl_app;
comment on function odl.odl_apply_patch(text, jsonb, integer, text, text[], text, boolean, boolean) is
'Applies an RFC 6902 patch of 1 to 100 operations (an empty patch, valid in RFC 6902, is refused with ODP01: '
'a version must change something) atomically to the current version and returns the new '
'version, its hash and the exact inverse (outcome applied); or, when the user may only propose, a section '
'needs approval, the user is an AI agent or propose is true, holds it as a change request (outcome proposed, '
'change_id). A dry run returns the would-be document, redacted as odl_get_document() does, and writes nothing';
