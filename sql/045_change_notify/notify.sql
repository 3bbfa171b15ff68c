-- Change notifications after commit, for caches outside the database.
--
-- One channel carries one JSON object per event. PostgreSQL
-- delivers a NOTIFY only when its transaction commits (never on rollback),
-- to every session that LISTENs, in commit order. Three kinds:
--   {"kind": "version", "tenant_id", "doc_id", "version", "doc_hash"}
--       a stored version (the projector notify_version);
--   {"kind": "rights", "tenant_id"}
--       a row that decides what a user of the tenant may read changed
--       (users, nodes, projects, role assignments);
--   {"kind": "policy"}
--       the access policy changed (the rbac_ tables, classification levels).
-- Any role that can connect may LISTEN on any channel it can name, and the
-- events name every tenant's documents and their hashes: the channel's name
-- is therefore secret, an HMAC under the context key, which applications
-- (acting for every tenant anyway) read from odl_change_channel(). The
-- payload holds ids, numbers and hashes, never document content.

create or replace function odl.odl_change_channel()
returns text
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    return 'odl_changes_' || left(odl.identity_mac('context', 'channel odl_changes'), 40);
end
$$;

revoke all on function odl.odl_change_channel() from public;
grant execute on function odl.odl_change_channel() to odl_app;
comment on function odl.odl_change_channel() is
'The secret name of the channel that carries change events (LISTEN to it, quoted); a new context key changes it';

create or replace function odl.notify_version(
    tenant_id text,
    doc_id text,
    project_id text,
    version integer,
    doc jsonb,
    changed_pointers text[]
)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- plpgsql keeps this plan for the session; a SQL function called through
-- run_projectors' EXECUTE would be planned again at every write.
begin
    perform pg_notify(
        odl.odl_change_channel(),
        json_build_object(
            'kind', 'version', 'tenant_id', notify_version.tenant_id, 'doc_id', notify_version.doc_id,
            'version', notify_version.version, 'doc_hash', v.doc_hash
        )::text
    )
    from odl.odl_document_versions as v
    where v.tenant_id = notify_version.tenant_id and v.doc_id = notify_version.doc_id
        and v.version = notify_version.version;
end
$$;

revoke all on function odl.notify_version(text, text, text, integer, jsonb, text[]) from public;
comment on function odl.notify_version(text, text, text, integer, jsonb, text[]) is
'The notify projector: NOTIFY on odl_change_channel() {"kind": "version", tenant_id, doc_id, version, '
'doc_hash} for a stored version, delivered when the writer commits and never on rollback';

-- It runs last (run_order 1000), after the projectors that write tables.
insert into odl.document_projectors (projector, handler, run_order)
values ('notify', 'odl.notify_version(text, text, text, integer, jsonb, text[])', 1000)
on conflict (projector) do update set handler = excluded.handler, run_order = excluded.run_order;

-- Row triggers: NOTIFY folds identical payloads of one transaction into
-- one, so a statement that touches many rows of a tenant sends one event.
create or replace function odl.notify_rights()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    perform pg_notify(
        odl.odl_change_channel(),
        json_build_object(
            'kind', 'rights',
            'tenant_id', case when tg_op = 'DELETE' then old.tenant_id else new.tenant_id end
        )::text
    );
    if tg_op = 'UPDATE' and old.tenant_id is distinct from new.tenant_id then
        perform pg_notify(
            odl.odl_change_channel(), json_build_object('kind', 'rights', 'tenant_id', old.tenant_id)::text
        );
    end if;
    return null;
end
$$;

revoke all on function odl.notify_rights() from public;
comment on function odl.notify_rights() is
'Trigger: NOTIFY on odl_change_channel() {"kind": "rights", tenant_id} when a row that decides what the '
'tenant''s users may read changes (users, nodes, projects, role assignments)';

create or replace function odl.notify_policy()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    perform pg_notify(odl.odl_change_channel(), '{"kind": "policy"}');
    return null;
end
$$;

revoke all on function odl.notify_policy() from public;
comment on function odl.notify_policy() is
'Trigger: NOTIFY on odl_change_channel() {"kind": "policy"} when a table of the access policy changes';

do $$
declare
    tbl text;
begin
    foreach tbl in array array['users', 'nodes', 'projects', 'rbac_assignments'] loop
        execute format(
            'create or replace trigger %I after insert or update or delete on odl.%I '
            'for each row execute function odl.notify_rights()',
            tbl || '_notify_rights', tbl
        );
    end loop;
    foreach tbl in array array[
        'classification_levels', 'rbac_sections', 'rbac_section_keys', 'rbac_classified_parts', 'rbac_rights',
        'rbac_permission_sets', 'rbac_set_rights', 'rbac_roles', 'rbac_role_sets', 'rbac_role_overrides',
        'rbac_agents', 'rbac_agent_roles'
    ] loop
        execute format(
            'create or replace trigger %I after insert or update or delete or truncate on odl.%I '
            'for each statement execute function odl.notify_policy()',
            tbl || '_notify_policy', tbl
        );
    end loop;
end
$$;

-- Role assignments start and end by the clock, which sends no NOTIFY: a
-- cache keeps what it read for a user only until the next such instant.
create or replace function odl.odl_rights_stable_until()
returns timestamptz
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select min(b.at)
    from odl.require_context() as c
    inner join odl.rbac_assignments as a on c.tenant_id = a.tenant_id and c.user_id = a.user_id
    cross join lateral (values (a.valid_from), (a.valid_until)) as b (at)
    where a.revoked_at is null and b.at > now()
$$;

revoke all on function odl.odl_rights_stable_until() from public;
grant execute on function odl.odl_rights_stable_until() to odl_app;
comment on function odl.odl_rights_stable_until() is
'The first instant after now at which a role assignment of the acting user starts or ends (null: none). What this '
'user may read changes then without any NOTIFY, so a read cache keeps its reads only until then. ODC01';
