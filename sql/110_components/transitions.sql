-- The status machine's decision: may this change of a component's status
-- happen, made by an author holding these roles and decided by an approver
-- holding those? One function, so that the projector (every write path)
-- and odl_set_component_status() cannot disagree, and the tests can ask it
-- about every pair of statuses and roles.

insert into odl.error_codes (sqlstate, name, meaning) values
(
    'ODK01', 'illegal_component_transition',
    'No transition of the component status machine leads from the status to the other'
),
('ODK02', 'transition_role_denied', 'The author holds no role that may make the status transition'),
('ODK03', 'transition_needs_approval', 'The status transition needs the approval of one of its approver roles'),
('ODK04', 'transition_fields_missing', 'The component record lacks a field the status transition requires'),
('ODK05', 'unknown_component', 'The document has no library component of that name')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.component_transition_refusal(
    from_status text,
    to_status text,
    author_roles text[],
    approver_roles text[],
    component jsonb,
    out code text,
    out reason text
)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- from_status null: the component is new to the index (or had no status),
-- or its status is none of the 19, which the machine does not know.
declare
    known_from boolean := exists (
        select from odl.component_statuses as s where s.status = component_transition_refusal.from_status
    );
    transition odl.component_transitions;
    missing text;
begin
    if to_status is null then
        code := 'ODK01';
        reason := 'a component''s status cannot be removed';
        return;
    end if;
    if not exists (select from odl.component_statuses as s where s.status = component_transition_refusal.to_status) then
        code := 'ODK01';
        reason := format('%s is not one of the 19 statuses of a component record', to_status);
        return;
    end if;
    if not known_from then
        -- A component comes in as a draft, unless whoever decides the write
        -- may approve library changes: bringing in a record at a later
        -- status approves it.
        if to_status <> 'draft' and not exists (
            select from odl.role_rights(approver_roles) as r
            where r.section = 'libraries' and strpos(r.rights, 'A') > 0
        ) then
            code := 'ODK02';
            reason := format(
                'a new component starts as draft; only a role with A on libraries brings one in at %s (the '
                'approver holds %s)',
                to_status, coalesce(nullif(array_to_string(approver_roles, ', '), ''), 'no role')
            );
        end if;
        return;
    end if;
    if from_status = to_status then
        return;
    end if;

    select t.* into transition
    from odl.component_transitions as t
    where t.from_status = component_transition_refusal.from_status and t.to_status = component_transition_refusal.to_status;
    if not found then
        code := 'ODK01';
        reason := format(
            'no transition leads there; from %s a component goes to %s', from_status,
            coalesce(
                (
                    select string_agg(t.to_status, ', ' order by s.position)
                    from odl.component_transitions as t
                    inner join odl.component_statuses as s on t.to_status = s.status
                    where t.from_status = component_transition_refusal.from_status
                ),
                'nothing: it is terminal'
            )
        );
        return;
    end if;
    if not coalesce(author_roles && (transition.roles || transition.approver_roles), false) then
        code := 'ODK02';
        reason := format(
            'it is made by %s; the author holds %s', array_to_string(transition.roles || transition.approver_roles, ', '),
            coalesce(nullif(array_to_string(author_roles, ', '), ''), 'no role')
        );
        return;
    end if;
    if transition.needs_approval and not coalesce(approver_roles && transition.approver_roles, false) then
        code := 'ODK03';
        reason := format(
            'it needs the approval of %s; the approver holds %s', array_to_string(transition.approver_roles, ', '),
            coalesce(nullif(array_to_string(approver_roles, ', '), ''), 'no role')
        );
        return;
    end if;
    select string_agg(q.description, '; ' order by x.n) into missing
    from unnest(transition.required) with ordinality as x (requirement, n)
    inner join odl.component_requirements as q on x.requirement = q.requirement
    where not coalesce(component @@ q.predicate, false);
    if missing is not null then
        code := 'ODK04';
        reason := 'the record lacks ' || missing;
    end if;
end
$$;

revoke all on function odl.component_transition_refusal(text, text, text[], text[], jsonb) from public;
comment on function odl.component_transition_refusal(text, text, text[], text[], jsonb) is
'Why odl.component_transitions forbids a component''s status to change from from_status (null: a new component) '
'to to_status, by an author holding author_roles and decided by an approver holding approver_roles, the '
'component (its library entry) being as given after the change: (code: ODK01..ODK04, reason), or two nulls '
'when it may';

-- The roles that decide a write of a document in the context's name: the
-- author's and the approver's. They differ when the write merges a change
-- request: the context is then its approver's, and the approvals of the
-- merge are already recorded while the change is still pending (rows that
-- exist only inside odl_approve_change's transaction).
create or replace function odl.component_write_roles(
    tenant_id text,
    doc_id text,
    project_id text,
    out author_roles text[],
    out approver_roles text[]
)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    node text := (odl.scope_of(component_write_roles.project_id)).node_id;
    author text := context.user_id;
begin
    select c.author_id into author
    from odl.change_requests as c
    where c.tenant_id = component_write_roles.tenant_id and c.doc_id = component_write_roles.doc_id
        and c.status = 'pending'
        and exists (
            select from odl.approvals as a
            where a.tenant_id = c.tenant_id and a.change_id = c.change_id and a.approver_id = context.user_id
                and a.outcome = 'approved'
        )
    limit 1;
    if not found then
        author := context.user_id;
    end if;
    author_roles := array(
        select r.role_id from odl.user_roles(author, node) as r where r.usable order by r.role_id
    );
    approver_roles := case when author = context.user_id then author_roles else array(
        select r.role_id from odl.user_roles(context.user_id, node) as r where r.usable order by r.role_id
    ) end;
end
$$;

revoke all on function odl.component_write_roles(text, text, text) from public;
comment on function odl.component_write_roles(text, text, text) is
'The usable roles, at the project''s node, of the author of the write of a document in progress (the author of '
'the change request it merges, else the context''s user) and of its approver (the context''s user)';
