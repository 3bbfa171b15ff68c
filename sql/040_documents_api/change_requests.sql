-- Change requests: patches held for an approver, and moves to the next
-- phase. An approver (a human holding an approver role, with A on every
-- section of the change, not its author) merges or rejects them; each
-- decision is recorded in odl.approvals and audited.

create or replace function odl.propose_patch(
    doc_id text,
    patch jsonb,
    expected_version integer,
    intent text,
    evidence_uris text[],
    tool_version text,
    dry_run boolean,
    reason text,
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
    context record := odl.require_context();
    current_doc record;
    checked record;
    shown record;
    new_id text := odl.odl_ulid();
begin
    select d.project_id, d.version, d.doc_hash, odl.document_resolved(d.tenant_id, d.doc_json, d.external) as doc_json into current_doc
    from odl.odl_documents as d where d.doc_id = propose_patch.doc_id;
    if current_doc.version is distinct from expected_version then
        perform odl.raise_version_conflict(propose_patch.doc_id, expected_version, current_doc.version);
    end if;
    -- A proposal must apply and validate now; the merge checks again.
    checked := odl.document_write(current_doc.doc_json::text, patch, max_operations);
    perform odl.raise_failure(checked.sqlstate, checked.message, checked.detail);
    if dry_run then
        shown := odl.redact(
            coalesce(checked.document_text::jsonb, checked.document), (odl.scope_of(current_doc.project_id)).node_id
        );
        return query select current_doc.version, current_doc.doc_hash, null::jsonb, shown.document,
            'proposed'::text, null::text, shown.redacted;
        return;
    end if;

    insert into odl.change_requests (
        tenant_id, change_id, project_id, kind, doc_id, base_version, patch, sections, reason, intent,
        evidence_uris, tool_version, author_id
    )
    values (
        context.tenant_id, new_id, current_doc.project_id, 'patch', propose_patch.doc_id, current_doc.version, patch,
        odl.sections_of(odl.patch_pointers(patch)), reason, intent, to_jsonb(coalesce(evidence_uris, '{}')),
        tool_version, context.user_id
    );
    perform odl.audit_append(
        'patch.proposed',
        jsonb_build_object(
            'change_id', new_id, 'base_version', current_doc.version, 'reason', reason,
            'patch_hash', odl.odl_content_hash(patch), 'operations', jsonb_array_length(patch), 'intent', intent
        ),
        current_doc.project_id, propose_patch.doc_id
    );
    return query select current_doc.version, current_doc.doc_hash, null::jsonb, null::jsonb,
        'proposed'::text, new_id, null::text[];
end
$$;

revoke all on function odl.propose_patch(text, jsonb, integer, text, text[], text, boolean, text, integer) from public;
comment on function odl.propose_patch(text, jsonb, integer, text, text[], text, boolean, text, integer) is
'Holds a patch that applies and validates on the current version as a pending change request';

create or replace function odl.stale_pointers(doc_id text, base_version integer, patch jsonb)
returns text
language sql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    -- What patches after base_version changed where the patch writes. An
    -- add, remove, move or copy inside an array shifts its elements, so it
    -- counts as a change of the whole array.
    with changed as (
        select p.to_version, case
            when x.op ->> 'op' in ('add', 'remove', 'move', 'copy') and x.pointer ~ '/([0-9]+|-)$'
                then regexp_replace(x.pointer, '/[^/]*$', '')
            else x.pointer
        end as pointer
        from odl.odl_patches as p
        cross join lateral jsonb_array_elements(p.patch_json) as o (op)
        cross join lateral (
            values (o.op, o.op ->> 'path'), (o.op, case when o.op ->> 'op' = 'move' then o.op ->> 'from' end)
        ) as x (op, pointer)
        where p.doc_id = stale_pointers.doc_id and p.to_version > stale_pointers.base_version
            and x.op ->> 'op' <> 'test' and x.pointer is not null
    ),
    written as (
        select distinct w.pointer
        from jsonb_array_elements(patch) as o (op)
        cross join lateral (values (o.op ->> 'path'), (o.op ->> 'from')) as w (pointer)
        where w.pointer is not null
    )
    select string_agg(distinct format('%s (version %s)', c.pointer, c.to_version), ', ')
    from changed as c
    inner join written as w
        on c.pointer = w.pointer or c.pointer = '' or w.pointer = ''
        or starts_with(w.pointer, c.pointer || '/') or starts_with(c.pointer, w.pointer || '/')
$$;

revoke all on function odl.stale_pointers(text, integer, jsonb) from public;
comment on function odl.stale_pointers(text, integer, jsonb) is
'The pointers that later versions changed where a patch reads or writes (null when none): a change request '
'written against base_version is stale if there are any';

create or replace function odl.odl_set_project_phase(project_id text, phase text)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    scope record := odl.scope_of(odl_set_project_phase.project_id);
    new_id text := odl.odl_ulid();
begin
    if scope.project_id is null then
        raise exception using
            errcode = 'ODH02',
            message = 'project does not exist',
            detail = format('project_id %s', odl_set_project_phase.project_id);
    end if;
    if not exists (
        select from odl.project_phases as now_in
        inner join odl.project_phases as next on next.position = now_in.position + 1
        where now_in.phase = scope.phase and next.phase = odl_set_project_phase.phase
    ) then
        raise exception using
            errcode = 'ODG02',
            message = format('a project in %s cannot move to %s', scope.phase, quote_nullable(odl_set_project_phase.phase)),
            hint = 'Phases move one step forward: ' || (
                select string_agg(p.phase, ' > ' order by p.position) from odl.project_phases as p
            );
    end if;
    perform odl.require_right(odl_set_project_phase.project_id, a.section, a.rights, 'requesting a phase change')
    from odl.rbac_actions as a where a.action = 'request_phase_change';

    insert into odl.change_requests (
        tenant_id, change_id, project_id, kind, target_phase, sections, reason, author_id
    )
    select context.tenant_id, new_id, odl_set_project_phase.project_id, 'phase', odl_set_project_phase.phase,
        array[a.section], 'phase_change', context.user_id
    from odl.rbac_actions as a where a.action = 'approve_phase_change';
    perform odl.audit_append(
        'phase.proposed', jsonb_build_object('change_id', new_id, 'from', scope.phase, 'to', odl_set_project_phase.phase),
        odl_set_project_phase.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_set_project_phase(text, text) from public;
grant execute on function odl.odl_set_project_phase(text, text) to odl_app;
comment on function odl.odl_set_project_phase(text, text) is
'Requests the move of a project to the next phase, as a change request that an approver decides with '
'odl_approve_change(); returns its change_id. ODG02 unless the phase is the next one';

create or replace function odl.odl_approve_change(change_id text, outcome text, comment text default null)
returns table (status text, version integer, doc_hash text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    context record := odl.require_context();
    change record;
    scope record;
    approver_role text;
    stale text;
    gate text;
    new_version integer;
    new_hash text;
begin
    select c.* into change from odl.change_requests as c where c.change_id = odl_approve_change.change_id for update;
    if not found or change.status <> 'pending' then
        raise exception using
            errcode = 'ODR03',
            message = 'change request is not pending',
            detail = format('change_id %s, status %s', odl_approve_change.change_id, coalesce(change.status, 'none'));
    end if;
    if outcome is null or outcome not in ('approved', 'rejected') then
        raise exception using
            errcode = '22023',
            message = format('outcome must be approved or rejected, not %s', quote_nullable(outcome));
    end if;
    if change.author_id = context.user_id then
        raise exception using
            errcode = 'ODR04',
            message = 'the author of a change cannot decide it',
            detail = format('change_id %s, author %s', change.change_id, change.author_id);
    end if;
    scope := odl.scope_of(change.project_id);
    select r.role_id into approver_role
    from odl.user_roles(context.user_id, scope.node_id) as r
    inner join odl.rbac_roles as x on r.role_id = x.role_id
    inner join odl.users as u on u.user_id = context.user_id
    where r.usable and x.approver and u.agent is null
    order by r.role_id
    limit 1;
    if approver_role is null then
        raise exception using
            errcode = 'ODR06',
            message = 'only a human holding an approver role may decide a change',
            detail = format('user_id %s, project_id %s', context.user_id, change.project_id);
    end if;
    perform odl.require_right(change.project_id, s.section, 'A', 'deciding this change')
    from unnest(change.sections) as s (section);

    -- approval_id counts the tenant's own approvals: the table's identity
    -- sequence is shared by every tenant, so its numbers would tell one
    -- tenant how many approvals the others make. The lock orders the
    -- tenant's approvers between reading the largest id and inserting.
    perform pg_advisory_xact_lock(hashtextextended('odl.approvals ' || context.tenant_id, 0));
    insert into odl.approvals (
        tenant_id, approval_id, change_id, project_id, section, outcome, approver_id, approver_role, comment
    )
    overriding system value
    select context.tenant_id, last.approval_id + s.n, change.change_id, change.project_id, s.section, outcome,
        context.user_id, approver_role, odl_approve_change.comment
    from unnest(change.sections) with ordinality as s (section, n)
    cross join (
        select coalesce(max(a.approval_id), 0) as approval_id
        from odl.approvals as a
        where a.tenant_id = context.tenant_id
    ) as last;

    if outcome = 'approved' and change.kind = 'patch' then
        select g.section into gate
        from odl.rbac_phase_gates as g
        where g.phase = scope.phase and g.mode = 'locked' and g.section = any(change.sections)
        limit 1;
        if gate is not null then
            raise exception using
                errcode = 'ODG01',
                message = format('the %s phase locks section %s', scope.phase, gate),
                detail = format('change_id %s stays pending', change.change_id);
        end if;
        stale := odl.stale_pointers(change.doc_id, change.base_version, change.patch);
        if stale is not null then
            raise exception using
                errcode = 'ODR05',
                message = 'change request is stale: the document changed where it writes',
                detail = format('change_id %s against version %s; changed since: %s', change.change_id,
                    change.base_version, stale),
                hint = 'Reject it and propose the change again on the current version.';
        end if;
        select w.version, w.doc_hash into new_version, new_hash
        from odl.odl_documents as d
        cross join lateral odl.write_patch(
            change.doc_id, change.patch, d.version, coalesce(change.intent, 'change ' || change.change_id),
            array(select jsonb_array_elements_text(change.evidence_uris)), change.tool_version, false, 100
        ) as w
        where d.doc_id = change.doc_id;
    elsif outcome = 'approved' then
        if not exists (
            select from odl.project_phases as now_in
            inner join odl.project_phases as next on next.position = now_in.position + 1
            where now_in.phase = scope.phase and next.phase = change.target_phase
        ) then
            raise exception using
                errcode = 'ODG02',
                message = format('a project in %s cannot move to %s', scope.phase, change.target_phase),
                detail = format('change_id %s was requested in another phase', change.change_id);
        end if;
        update odl.projects as p set phase = change.target_phase
        where p.tenant_id = context.tenant_id and p.project_id = change.project_id;
        perform odl.audit_append(
            'phase.changed', jsonb_build_object('change_id', change.change_id, 'from', scope.phase, 'to', change.target_phase),
            change.project_id
        );
    end if;

    update odl.change_requests as c
    set status = case outcome when 'approved' then 'merged' else 'rejected' end,
        decided_by = context.user_id,
        decided_at = now(),
        merged_version = new_version
    where c.tenant_id = context.tenant_id and c.change_id = change.change_id;
    perform odl.audit_append(
        'change.' || outcome,
        jsonb_build_object(
            'change_id', change.change_id, 'kind', change.kind, 'sections', change.sections,
            'approver_role', approver_role, 'merged_version', new_version, 'comment', odl_approve_change.comment
        ),
        change.project_id, change.doc_id
    );
    return query select case outcome when 'approved' then 'merged' else 'rejected' end, new_version, new_hash;
end
$$;

revoke all on function odl.odl_approve_change(text, text, text) from public;
grant execute on function odl.odl_approve_change(text, text, text) to odl_app;
comment on function odl.odl_approve_change(text, text, text) is
'Decides a pending change request (outcome approved or rejected). Approved patches merge as a new version '
'(ODR05 if the document changed where they write since, ODG01 if the phase now locks them); approved phase '
'changes move the project. Needs a human approver with A on every section of the change who is not its author';

-- What a reader may see of a change rather than of a document: a patch's
-- operations, and the intent and evidence that come with it. The same
-- rules apply (a section needs R and the clearance for its classification;
-- parts classified above the clearance are removed), decided once per node
-- by odl.reader_scope() and then per pointer, without reading the rights
-- again.

create or replace function odl.reader_scope(
    node_id text,
    out readable_keys text[],
    out hidden_parts text[],
    out reads_all boolean
)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    clearance integer;
begin
    select
        coalesce(array_agg(k.key order by k.key) filter (where strpos(r.rights, 'R') > 0 and r.clearance >= l.rank), '{}'),
        coalesce(max(r.clearance), 0),
        coalesce(bool_and(strpos(r.rights, 'R') > 0 and r.clearance >= l.rank), false)
    into readable_keys, clearance, reads_all
    from odl.user_rights(context.user_id, reader_scope.node_id) as r
    inner join odl.rbac_sections as s on r.section = s.section
    inner join odl.classification_levels as l on s.classification = l.level
    inner join odl.rbac_section_keys as k on r.section = k.section;
    hidden_parts := array(
        select c.pointer
        from odl.rbac_classified_parts as c
        inner join odl.classification_levels as l on c.classification = l.level
        where l.rank > clearance
        order by c.pointer
    );
    reads_all := reads_all and cardinality(hidden_parts) = 0;
end
$$;

revoke all on function odl.reader_scope(text) from public;
comment on function odl.reader_scope(text) is
'What the context''s user may read at a node: the top-level keys of the sections they read (R and the clearance '
'for the classification), the pointers of the parts classified above their clearance, and whether that is all';

create or replace function odl.pointer_reach(
    pointer text,
    readable_keys text[],
    hidden_parts text[],
    out hidden_by text,
    out above text[]
)
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- hidden_by: the pointer of the section (its top-level key) or classified
-- part that the pointer falls in, when the reader may not read it; above:
-- the hidden parts below the pointer, which a value written there holds.
-- The empty pointer is above every hidden part and every unreadable key.
declare
    steps text [];
    part_steps text [];
    part text;
    matches boolean;
begin
    above := '{}';
    if pointer is null then
        return;
    end if;
    steps := odl.pointer_steps(pointer);
    if cardinality(steps) > 0 and not steps[1] = any(readable_keys) then
        hidden_by := '/' || replace(replace(steps[1], '~', '~0'), '/', '~1');
        return;
    end if;
    foreach part in array hidden_parts loop
        part_steps := odl.pointer_steps(part);
        matches := true;
        for i in 1..least(cardinality(steps), cardinality(part_steps)) loop
            if part_steps[i] not in ('*', steps[i]) then
                matches := false;
                exit;
            end if;
        end loop;
        if matches and cardinality(steps) >= cardinality(part_steps) then
            hidden_by := part;
            return;
        elsif matches then
            above := above || part;
        end if;
    end loop;
end
$$;

revoke all on function odl.pointer_reach(text, text[], text[]) from public;
comment on function odl.pointer_reach(text, text[], text[]) is
'Where a JSON pointer reaches for a reader (odl.reader_scope): hidden_by names the unreadable section key or '
'classified part it falls in (null if none); above lists the hidden parts below it';

create or replace function odl.redact_patch(
    patch jsonb,
    readable_keys text[],
    hidden_parts text[],
    out shown jsonb,
    out redacted text[]
)
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- An operation whose path or from falls in what the reader may not read
-- is left out; a value written above a hidden part (or at the root) loses
-- that part, as a read would remove it. redacted lists the pointers of the
-- sections and parts removed; shown is null when no operation is left.
declare
    op jsonb;
    reach record;
    reach_from record;
    value jsonb;
    part text;
    trimmed jsonb;
begin
    redacted := '{}';
    if jsonb_typeof(patch) is distinct from 'array' then
        return;
    end if;
    for op in select e.value from jsonb_array_elements(patch) as e (value) loop
        reach := odl.pointer_reach(op ->> 'path', readable_keys, hidden_parts);
        reach_from := odl.pointer_reach(op ->> 'from', readable_keys, hidden_parts);
        if reach.hidden_by is not null or reach_from.hidden_by is not null then
            redacted := redacted || coalesce(reach.hidden_by, reach_from.hidden_by);
            continue;
        end if;
        if op ? 'value' then
            value := op -> 'value';
            if op ->> 'path' = '' and jsonb_typeof(value) = 'object' then
                trimmed := value - readable_keys;
                value := value - array(select k.key from jsonb_object_keys(trimmed) as k (key));
                redacted := redacted || array(
                    select '/' || replace(replace(k.key, '~', '~0'), '/', '~1')
                    from jsonb_object_keys(trimmed) as k (key)
                );
            end if;
            foreach part in array reach.above loop
                trimmed := odl.jsonb_without(
                    value, (odl.pointer_steps(part))[cardinality(odl.pointer_steps(op ->> 'path')) + 1:]
                );
                if trimmed is distinct from value then
                    value := trimmed;
                    redacted := redacted || part;
                end if;
            end loop;
            op := jsonb_set(op, '{value}', value);
        end if;
        shown := coalesce(shown, '[]') || jsonb_build_array(op);
    end loop;
    redacted := array(select distinct r.pointer from unnest(redacted) as r (pointer) order by r.pointer);
end
$$;

revoke all on function odl.redact_patch(jsonb, text[], text[]) from public;
comment on function odl.redact_patch(jsonb, text[], text[]) is
'A patch as a reader (odl.reader_scope) may see it: operations into what they may not read left out, hidden '
'parts removed from values written above them; redacted lists what was removed, shown is null if nothing is left';

create or replace function odl.pointers_readable(pointers text[], readable_keys text[], hidden_parts text[])
returns boolean
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    -- Readable: no pointer falls in, or lies above, anything hidden.
    return not exists (
        select
        from unnest(pointers) as p (pointer)
        cross join lateral odl.pointer_reach(p.pointer, readable_keys, hidden_parts) as r
        where r.hidden_by is not null or cardinality(r.above) > 0
            or p.pointer = '' and (
                cardinality(hidden_parts) > 0
                or exists (select from odl.rbac_section_keys as k where not k.key = any(readable_keys))
            )
    );
end
$$;

revoke all on function odl.pointers_readable(text[], text[], text[]) from public;
comment on function odl.pointers_readable(text[], text[], text[]) is
'Whether a reader (odl.reader_scope) may read everything at and below each of the pointers';

-- The result gains redacted after v0.1.0; a function's result type changes
-- only by dropping it. Only v0.1.0's is dropped: later views depend on this
-- one (a re-deploy of this change must leave it in place).
do $$
begin
    if exists (
        select from pg_catalog.pg_proc as p
        where p.oid = to_regprocedure('odl.odl_change_requests(text, text)')
            and not 'redacted' = any(p.proargnames)
    ) then
        drop function odl.odl_change_requests(text, text);
    end if;
end
$$;
create or replace function odl.odl_change_requests(project_id text default null, status text default 'pending')
returns table (
    change_id text,
    project_id text,
    kind text,
    doc_id text,
    base_version integer,
    target_phase text,
    sections text[],
    reason text,
    intent text,
    author_id text,
    created_at timestamptz,
    status text,
    decided_by text,
    decided_at timestamptz,
    merged_version integer,
    patch jsonb,
    redacted text[]
)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    -- The patch as a read would show it: operations into sections or parts
    -- the reader may not read left out, hidden parts removed from values.
    -- The intent, which describes the whole patch, only with all of it.
    with listed as (
        select c.*, p.node_id
        from odl.change_requests as c
        inner join odl.projects as p on c.tenant_id = p.tenant_id and c.project_id = p.project_id
        where (odl_change_requests.project_id is null or c.project_id = odl_change_requests.project_id)
            and (odl_change_requests.status is null or c.status = odl_change_requests.status)
            and odl.readable_project(c.project_id)
    ),

    scopes as (
        select n.node_id, s.readable_keys, s.hidden_parts
        from (select distinct l.node_id from listed as l) as n
        cross join lateral odl.reader_scope(n.node_id) as s
    )

    select
        c.change_id, c.project_id, c.kind, c.doc_id, c.base_version, c.target_phase, c.sections, c.reason,
        case when c.kind <> 'patch' or cardinality(r.redacted) = 0 then c.intent end,
        c.author_id, c.created_at, c.status, c.decided_by, c.decided_at, c.merged_version,
        r.shown, coalesce(r.redacted, '{}')
    from listed as c
    inner join scopes as s on c.node_id = s.node_id
    left join lateral odl.redact_patch(c.patch, s.readable_keys, s.hidden_parts) as r on c.kind = 'patch'
    order by c.created_at, c.change_id
$$;

revoke all on function odl.odl_change_requests(text, text) from public;
grant execute on function odl.odl_change_requests(text, text) to odl_app, odl_analyst;
comment on function odl.odl_change_requests(text, text) is
'Change requests of the projects the caller may read (of one project; pending unless status says otherwise, '
'null for all). patch shows only what the caller may read, as odl_get_document() would (operations into '
'unreadable sections or classified parts left out, classified parts removed from values); redacted lists the '
'pointers removed, and intent is null unless nothing was';
