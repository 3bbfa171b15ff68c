-- Who may take a procurement action, and which move of a state machine an
-- action makes. Procurement records hang under a project (through their RFQ
-- or purchase order), so rights are those at the project's node, as for its
-- documents; suppliers belong to the tenant, so creating or approving one is
-- a tenant-level act decided by the user's coarse role, as creating a
-- project is.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODQ01', 'illegal_procurement_transition', 'The procurement record cannot move from its state to the one asked for'),
(
    'ODQ02', 'unknown_procurement_record',
    'No supplier, RFQ, bid, PO, line, shipment, claim or return with that id is visible'
),
('ODQ03', 'already_awarded', 'The RFQ line has its awarded bid already: one award per line, never changed'),
('ODQ04', 'ordered_exceeds_awarded', 'Ordering would exceed what the RFQ line awarded to that supplier'),
('ODQ05', 'received_exceeds_ordered', 'Receiving would exceed the PO line''s quantity beyond its tolerance'),
('ODQ06', 'negative_stock', 'The move takes more than the location holds in that state'),
('ODQ07', 'serial_elsewhere', 'A serial is not where the move takes it from, or is already in stock elsewhere'),
('ODQ08', 'supplier_not_approved', 'The supplier is not approved: it may not bid or receive orders'),
('ODQ09', 'wrong_state', 'The record''s state does not allow the operation'),
('ODQ10', 'returned_exceeds_received', 'The returns of a PO line would exceed what it received'),
('ODQ11', 'four_eyes', 'The user who made the record may not approve it')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.procurement_authorize(action text, project_id text, made_by text default null)
returns void
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    rule record;
    held text;
begin
    select a.section, a.rights, a.four_eyes into rule
    from odl.procurement_actions as a
    where a.action = procurement_authorize.action;
    if not found then
        raise exception using
            errcode = '22023',
            message = format('%s is no procurement action', quote_nullable(procurement_authorize.action));
    end if;
    if procurement_authorize.project_id is null then
        -- The tenant's suppliers: the coarse role decides, for a human with
        -- the MFA the role needs.
        select r.rights into held
        from odl.users as u
        inner join odl.rbac_roles as rr on u.role = rr.role_id
        cross join lateral odl.role_rights(array[u.role]) as r
        where u.user_id = context.user_id
            and r.section = rule.section
            and u.agent is null
            and (u.mfa_enabled or not rr.mfa_required);
        if coalesce(held, '') !~ ('[' || rule.rights || ']') then
            raise exception using
                errcode = 'ODR01',
                message = format(
                    'permission denied: %s needs a human user whose role holds %s on %s',
                    procurement_authorize.action, rule.rights, rule.section
                ),
                detail = format('user_id %s holds %L on %s', context.user_id, coalesce(held, ''), rule.section);
        end if;
    else
        perform odl.require_right(procurement_authorize.project_id, rule.section, rule.rights, procurement_authorize.action);
    end if;
    if rule.four_eyes and procurement_authorize.made_by = context.user_id then
        raise exception using
            errcode = 'ODQ11',
            message = format('%s needs another user than the one who made the record', procurement_authorize.action),
            detail = format('user_id %s', context.user_id);
    end if;
end
$$;

revoke all on function odl.procurement_authorize(text, text, text) from public;
comment on function odl.procurement_authorize(text, text, text) is
'Raises ODR01 unless the context''s user may take the procurement action (odl.procurement_actions): its right on '
'its section at the project, or in the coarse role when project_id is null (suppliers); ODQ11 when the action '
'needs four eyes and made_by is the user';

create or replace function odl.procurement_action_for(
    entity text,
    from_status text,
    to_status text,
    excluded text[] default '{}'
)
returns text
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    found_action text;
begin
    select t.action into found_action
    from odl.procurement_transitions as t
    where t.entity = procurement_action_for.entity
        and t.from_status = procurement_action_for.from_status
        and t.to_status = procurement_action_for.to_status
        and t.action <> all(procurement_action_for.excluded)
    order by t.action
    limit 1;
    if found_action is null then
        raise exception using
            errcode = 'ODQ01',
            message = format(
                'a %s cannot move from %s to %s', procurement_action_for.entity,
                coalesce(nullif(procurement_action_for.from_status, ''), '(new)'),
                coalesce(procurement_action_for.to_status, '(null)')
            ),
            detail = format(
                'from %s to %s', procurement_action_for.from_status, procurement_action_for.to_status
            ),
            hint = coalesce(
                'From there: ' || (
                    select string_agg(distinct t.to_status, ', ')
                    from odl.procurement_transitions as t
                    where t.entity = procurement_action_for.entity
                        and t.from_status = procurement_action_for.from_status
                        and t.action <> all(procurement_action_for.excluded)
                ),
                'No move leaves that state here.'
            );
    end if;
    return found_action;
end
$$;

revoke all on function odl.procurement_action_for(text, text, text, text[]) from public;
comment on function odl.procurement_action_for(text, text, text, text[]) is
'The action that moves an entity from one state to another (odl.procurement_transitions), leaving out the '
'excluded actions; raises ODQ01 naming from and to when none does';

create or replace function odl.procurement_authorize_move(
    entity text,
    from_status text,
    to_status text,
    project_id text,
    made_by text default null,
    excluded text[] default '{}'
)
returns void
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    perform odl.procurement_authorize(
        odl.procurement_action_for(
            procurement_authorize_move.entity, procurement_authorize_move.from_status,
            procurement_authorize_move.to_status, procurement_authorize_move.excluded
        ),
        procurement_authorize_move.project_id, procurement_authorize_move.made_by
    );
end
$$;

revoke all on function odl.procurement_authorize_move(text, text, text, text, text, text[]) from public;
comment on function odl.procurement_authorize_move(text, text, text, text, text, text[]) is
'Raises unless the context''s user may move the record from one state to another: ODQ01 when no action (but the '
'excluded) makes the move (odl.procurement_action_for), else as odl.procurement_authorize for that action at '
'the project (null: the tenant''s suppliers) with the record''s maker';

create or replace function odl.procurement_require_state(
    kind text,
    id text,
    status text,
    allowed text[],
    reason text
)
returns void
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if procurement_require_state.status <> all(procurement_require_state.allowed) then
        raise exception using
            errcode = 'ODQ09',
            message = format(
                '%s %s is %s: %s', procurement_require_state.kind, procurement_require_state.id,
                procurement_require_state.status, procurement_require_state.reason
            );
    end if;
end
$$;

revoke all on function odl.procurement_require_state(text, text, text, text[], text) from public;
comment on function odl.procurement_require_state(text, text, text, text[], text) is
'Raises ODQ09 "<kind> <id> is <status>: <reason>" unless the record''s status is one of the allowed ones';

create or replace function odl.procurement_missing(kind text, id text)
returns void
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    raise exception using
        errcode = 'ODQ02',
        message = format('%s does not exist', kind),
        detail = format('%s %s', kind, quote_nullable(id));
end
$$;

revoke all on function odl.procurement_missing(text, text) from public;
comment on function odl.procurement_missing(text, text) is 'Raises ODQ02 naming the kind of record and its id';

create or replace function odl.prices_visible(project_id text)
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
-- Prices are as confidential as the policy classifies a component's
-- pricing: a reader needs R on libraries and that clearance.
begin
    return exists (
        select
        from odl.projects as p
        cross join odl.current_context as c
        cross join lateral odl.user_rights(c.user_id, p.node_id) as r
        inner join odl.rbac_classified_parts as cp on cp.pointer = '/libraries/components/*/pricing'
        inner join odl.classification_levels as l on cp.classification = l.level
        where p.project_id = prices_visible.project_id
            and r.section = 'libraries'
            and strpos(r.rights, 'R') > 0
            and r.clearance >= l.rank
    );
end
$$;

revoke all on function odl.prices_visible(text) from public;
grant execute on function odl.prices_visible(text) to odl_analyst;
comment on function odl.prices_visible(text) is
'Whether the context''s user may read supplier prices at a project: R on libraries and the clearance of the '
'policy''s classified part /libraries/components/*/pricing';

create or replace function odl.procurement_require_approved_supplier(supplier_id text)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- FOR SHARE: the supplier cannot leave approved under the bid or order
-- being written. Callers lock their RFQ before this (lock order).
declare
    context record := odl.require_context();
    supplier_status text;
begin
    select s.status into supplier_status
    from odl.suppliers as s
    where s.tenant_id = context.tenant_id and s.supplier_id = procurement_require_approved_supplier.supplier_id
    for share;
    if not found then
        perform odl.procurement_missing('supplier', procurement_require_approved_supplier.supplier_id);
    end if;
    if supplier_status <> 'approved' then
        raise exception using
            errcode = 'ODQ08',
            message = format(
                'supplier %s is %s, not approved', procurement_require_approved_supplier.supplier_id, supplier_status
            );
    end if;
end
$$;

revoke all on function odl.procurement_require_approved_supplier(text) from public;
comment on function odl.procurement_require_approved_supplier(text) is
'Locks a supplier of the context''s tenant FOR SHARE; raises ODQ02 when there is none, ODQ08 unless it is '
'approved';

create or replace function odl.procurement_check_lines(lines jsonb, most integer, fields text)
returns void
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if jsonb_typeof(procurement_check_lines.lines) is distinct from 'array'
        or jsonb_array_length(procurement_check_lines.lines) = 0
        or jsonb_array_length(procurement_check_lines.lines) > procurement_check_lines.most then
        raise exception using
            errcode = '22023',
            message = format(
                'lines must be an array of 1 to %s objects {%s}', procurement_check_lines.most,
                procurement_check_lines.fields
            );
    end if;
end
$$;

revoke all on function odl.procurement_check_lines(jsonb, integer, text) from public;
comment on function odl.procurement_check_lines(jsonb, integer, text) is
'Raises 22023 unless lines is a jsonb array of 1 to most elements; the message names the fields each object has';

create or replace function odl.procurement_audit_move(
    action text,
    id_key text,
    record_id text,
    from_status text,
    to_status text,
    project_id text default null,
    extra jsonb default '{}'
)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    perform odl.audit_append(
        procurement_audit_move.action,
        jsonb_build_object(
            procurement_audit_move.id_key, procurement_audit_move.record_id,
            'from', procurement_audit_move.from_status, 'to', procurement_audit_move.to_status
        ) || procurement_audit_move.extra,
        procurement_audit_move.project_id
    );
end
$$;

revoke all on function odl.procurement_audit_move(text, text, text, text, text, text, jsonb) from public;
comment on function odl.procurement_audit_move(text, text, text, text, text, text, jsonb) is
'Audits a procurement record''s move: the event action with {id_key: record_id, from, to} and the extra '
'members, at the project (null for the tenant''s suppliers)';
