-- The audit ledger: its shape, owners and partitions, the API as odl_app and
-- odl_admin use it, the analyst view, and the append-only guarantees for
-- odl_app, for odl_owner and for a superuser, each refused operation with
-- its SQLSTATE. Tampering and its detection, concurrency and crashes are
-- in tests/python/test_audit.py and tests/python/test_ledger_tamper.py.
begin;
select plan(123);

-- Shape.

select has_table('odl', 'audit_events', 'odl.audit_events exists');
select is_partitioned('odl', 'audit_events', 'odl.audit_events is partitioned');
select col_is_pk(
    'odl', 'audit_events', array['tenant_id', 'seq', 'created_at'], 'tenant_id leads the key'
);
select columns_are(
    'odl', 'audit_events',
    array[
        'tenant_id', 'seq', 'created_at', 'event_id', 'project_id', 'doc_id', 'actor_id', 'action', 'payload',
        'prev_hash', 'hash', 'key_id', 'signature'
    ]
);
select col_type_is('odl', 'audit_events', 'payload', 'json', 'payload keeps the exact text that is hashed');
select is(
    (select pg_catalog.pg_get_partkeydef('odl.audit_events'::regclass)), 'RANGE (created_at)',
    'partitioned by range of created_at'
);
select policies_are('odl', 'audit_events', array['tenant_isolation', 'ledger_owner']);
select policies_are('odl', 'audit_heads', array['tenant_isolation', 'ledger_owner']);
select policy_roles_are(
    'odl', 'audit_events', 'tenant_isolation', array['odl_owner', 'odl_app', 'odl_admin', 'odl_analyst'],
    'the tenant policy binds the readers, not the ledger''s own functions'
);
select col_is_pk('odl', 'audit_heads', 'tenant_id', 'one head per tenant');
select col_is_pk('odl', 'audit_keys', 'key_id', 'keys are numbered');
select table_privs_are(
    'odl', 'audit_events', 'odl_owner', array['SELECT'],
    'odl_owner may read events, not insert, update, delete or truncate them'
);
select table_privs_are('odl', 'audit_heads', 'odl_owner', array['SELECT'], 'odl_owner may read chain heads only');
select table_privs_are('odl', 'audit_keys', 'odl_owner', array[]::text[], 'odl_owner holds nothing on the keys');
select table_owner_is('odl', 'audit_keys', 'odl_signer', 'odl_signer owns the signing keys');
select table_owner_is('odl', 'audit_events', 'odl_ledger', 'odl_ledger owns the events');
select table_owner_is('odl', 'audit_heads', 'odl_ledger', 'odl_ledger owns the chain heads');
select table_privs_are(
    'odl', 'audit_events', 'odl_ledger', array['INSERT', 'SELECT', 'REFERENCES', 'TRIGGER'],
    'not even the ledger''s owner may update, delete or truncate events'
);
select is_empty(
    $$
        select r.rolname from pg_catalog.pg_roles as r
        where r.rolname in ('odl_owner', 'odl_app', 'odl_admin', 'odl_analyst')
            and (pg_catalog.pg_has_role(r.oid, 'odl_signer', 'member') or pg_catalog.pg_has_role(r.oid, 'odl_ledger', 'member'))
    $$,
    'no API role is a member of odl_signer or odl_ledger'
);
select ok(
    (select not r.rolcanlogin from pg_catalog.pg_roles as r where r.rolname = 'odl_signer')
    and (select not r.rolcanlogin from pg_catalog.pg_roles as r where r.rolname = 'odl_ledger'),
    'odl_signer and odl_ledger never log in'
);
select is_empty(
    $$
        select p.oid::regprocedure::text from pg_catalog.pg_proc as p
        where p.pronamespace = 'odl'::regnamespace
            and p.proname in ('audit_hmac', 'audit_sign')
            and (
                p.proowner <> 'odl_signer'::regrole
                or exists (
                    select from pg_catalog.aclexplode(p.proacl) as a
                    where a.grantee not in ('odl_signer'::regrole, 'odl_ledger'::regrole)
                )
            )
    $$,
    'the signing functions belong to odl_signer and only odl_ledger may call them'
);
select is(
    (
        select array_agg(p.proname::text order by p.proname) from pg_catalog.pg_proc as p
        where p.pronamespace = 'odl'::regnamespace and p.proowner = 'odl_ledger'::regrole and p.prosecdef
    ),
    array[
        'audit_anchor_month', 'audit_chain_base',
        'audit_export_status', 'audit_head_digest', 'audit_partition_status', 'audit_verify_chain', 'audit_write',
        'odl_audit_export_digests'
    ],
    'the append path, the digest, retention''s anchors, verification and the figures odl_health() reports run as '
    || 'odl_ledger'
);
select is(
    (select count(*)::int from odl.audit_keys where retired_at is null), 1, 'exactly one key signs new events'
);
select ok(
    (
        select bool_and(c.relrowsecurity and c.relforcerowsecurity)
        from pg_catalog.pg_class as c
        where c.oid in ('odl.audit_events'::regclass, 'odl.audit_heads'::regclass)
    ),
    'audit_events and audit_heads have forced RLS'
);
select is_empty(
    $$select * from odl.odl_security_audit()$$, 'the security audit stays clean with the ledger and its partitions'
);

-- Partitions: the current month and four ahead, plus a default; each owned
-- by odl_ledger, with the statement trigger, without UPDATE, DELETE or
-- TRUNCATE for anyone, and recorded.

select ok(
    (select count(*) >= 6 from pg_catalog.pg_inherits where inhparent = 'odl.audit_events'::regclass),
    'pg_partman made monthly partitions and a default one'
);
select is_empty(
    $$
        select c.oid::regclass::text
        from pg_catalog.pg_inherits as i
        inner join pg_catalog.pg_class as c on i.inhrelid = c.oid
        where i.inhparent = 'odl.audit_events'::regclass
            and (
                c.relowner <> 'odl_ledger'::regrole
                or pg_catalog.has_table_privilege('odl_ledger', c.oid, 'UPDATE')
                or pg_catalog.has_table_privilege('odl_ledger', c.oid, 'DELETE')
                or pg_catalog.has_table_privilege('odl_ledger', c.oid, 'TRUNCATE')
                or exists (
                    select from pg_catalog.aclexplode(c.relacl) as a where a.grantee <> 'odl_ledger'::regrole
                )
                or not exists (
                    select from odl.audit_partitions as p where p.partition_name = c.oid::regclass::text
                )
                or not exists (
                    select from pg_catalog.pg_trigger as t
                    where t.tgrelid = c.oid and t.tgname = 'audit_events_append_only'
                )
                or not exists (
                    select from pg_catalog.pg_trigger as t
                    where t.tgrelid = c.oid and t.tgname = 'audit_events_append_only_row'
                )
            )
    $$,
    'every partition belongs to odl_ledger, grants nothing to anyone, carries both refusing triggers and is recorded'
);
select is(
    (select p.premake::int from partman.part_config as p where p.parent_table = 'odl.audit_events'), 4,
    'pg_partman keeps four months ahead'
);
select is(
    (select p.automatic_maintenance from partman.part_config as p where p.parent_table = 'odl.audit_events'), 'off',
    'only odl.audit_maintenance() makes audit partitions, so each is protected'
);

-- Fixtures: tenants A and B with a user each.

set local role odl_admin;
do $$
begin
    perform set_config('fixture.tenant_a', odl.odl_create_tenant('Tenant A', 'EU'), true);
    perform set_config('fixture.tenant_b', odl.odl_create_tenant('Tenant B', 'US'), true);
    perform set_config(
        'fixture.user_a', odl.odl_create_user(current_setting('fixture.tenant_a'), 'ann@a.example', 'engineer'), true
    );
    perform set_config(
        'fixture.user_b', odl.odl_create_user(current_setting('fixture.tenant_b'), 'bob@b.example', 'engineer'), true
    );
end
$$;
reset role;

select results_eq(
    $$
        select e.action, e.actor_id::text, e.payload::jsonb - 'user_id'
        from odl.audit_events as e
        where e.tenant_id = current_setting('fixture.tenant_a')
        order by e.seq
    $$,
    $$
        values
            ('tenant.created', null::text, '{"name": "Tenant A", "region": "EU"}'::jsonb),
            ('user.created', null::text, '{"role": "engineer", "mfa_enabled": true}'::jsonb)
    $$,
    'creating a tenant and a user audits both, without an actor and without the e-mail address'
);

-- The tests below count from empty chains: the superuser removes the
-- creation events and the heads.
set local session_replication_role = replica;
delete from odl.audit_events
where tenant_id in (current_setting('fixture.tenant_a'), current_setting('fixture.tenant_b'));
delete from odl.audit_heads
where tenant_id in (current_setting('fixture.tenant_a'), current_setting('fixture.tenant_b'));
set local session_replication_role = origin;

-- A partition exists four months ahead (routing checked by the superuser).

create function pg_temp.partition_of(tenant_id text, created_at timestamptz)
returns text
language sql
as $$
    insert into odl.audit_events (
        tenant_id, seq, created_at, event_id, action, payload, prev_hash, hash, key_id, signature
    )
    values (tenant_id, 999, created_at, odl.odl_ulid(), 'test.route', '{}', '\x00', '\x00', 1, '\x00')
    returning tableoid::regclass::text
$$;
select isnt(
    pg_temp.partition_of(
        current_setting('fixture.tenant_b'), date_trunc('month', now() + interval '4 months') + interval '1 day'
    ),
    'odl.audit_events_default',
    'an event four months ahead lands in a monthly partition, not the default one'
);
set local session_replication_role = replica;
delete from odl.audit_events where tenant_id = current_setting('fixture.tenant_b');
set local session_replication_role = origin;

-- odl_audit_log() as an application.

set local role odl_app;
select throws_ok(
    $$select odl.odl_audit_log('login', '{}')$$,
    'ODC01', 'no tenant context is set',
    'odl_audit_log() needs a context'
);
select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'));
select is(odl.odl_audit_log('login', '{"ip": "10.0.0.1"}'), 1::bigint, 'the first event of a tenant has seq 1');
select is(
    odl.odl_audit_log(
        'tool_call',
        jsonb_build_object(
            'tenant_id', current_setting('fixture.tenant_b'), 'actor_id', current_setting('fixture.user_b'),
            'project_id', '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'tool', 'solver'
        )
    ),
    2::bigint,
    'the next has seq 2'
);
select throws_ok(
    $$select odl.odl_audit_log('Not An Action', '{}')$$,
    '23514', null,
    'an action that is not a dotted lower-case name is refused'
);
select throws_ok(
    $$select odl.odl_audit_log(null, '{}')$$,
    '23514', 'audit action must be a dotted lower-case name',
    'an event needs an action'
);
select throws_ok(
    $$select odl.odl_audit_log('big', jsonb_build_object('blob', repeat('x', 65536)))$$,
    'ODL04', null,
    'a payload over audit_payload_bytes is refused'
);
select throws_ok(
    $$select odl.odl_audit_log('deep', (repeat('[', 14000) || repeat(']', 14000))::jsonb)$$,
    'ODL02', null,
    'a payload nested deeper than nesting_depth is refused'
);
select throws_ok(
    $$select odl.odl_audit_log('deep', (repeat('{"a":', 200) || '1' || repeat('}', 200))::jsonb)$$,
    'ODL02', null,
    'so are deep objects'
);
select is(odl.odl_audit_log('logout', null), 3::bigint, 'a null payload is recorded as {}');

-- What odl_app may not do with the ledger.

select throws_ok($$select * from odl.audit_events$$, '42501', null, 'odl_app cannot read audit_events');
select throws_ok($$select * from odl.audit_events_default$$, '42501', null, 'odl_app cannot read a partition');
select throws_ok($$select * from odl.audit_trail$$, '42501', null, 'odl_app cannot read the analyst view');
select throws_ok($$select * from odl.audit_heads$$, '42501', null, 'odl_app cannot read chain heads');
select throws_ok($$select * from odl.audit_keys$$, '42501', null, 'odl_app cannot read the keys');
select throws_ok(
    $$
        insert into odl.audit_events (tenant_id, seq, created_at, event_id, action, payload, prev_hash, hash, key_id, signature)
        values (current_setting('fixture.tenant_a'), 4, now(), odl.odl_ulid(), 'forged', '{}', '\x00', '\x00', 1, '\x00')
    $$,
    '42501', null,
    'odl_app cannot insert events'
);
select throws_ok(
    $$
        insert into odl.audit_events_default (tenant_id, seq, created_at, event_id, action, payload, prev_hash, hash, key_id, signature)
        values (current_setting('fixture.tenant_a'), 4, now(), odl.odl_ulid(), 'forged', '{}', '\x00', '\x00', 1, '\x00')
    $$,
    '42501', null,
    'odl_app cannot insert into a partition'
);
select throws_ok($$update odl.audit_events set payload = '{}'$$, '42501', null, 'odl_app cannot update events');
select throws_ok($$delete from odl.audit_events$$, '42501', null, 'odl_app cannot delete events');
select throws_ok($$truncate odl.audit_events$$, '42501', null, 'odl_app cannot truncate events');
select throws_ok($$truncate odl.audit_events_default$$, '42501', null, 'odl_app cannot truncate a partition');
select throws_ok($$update odl.audit_heads set seq = 0$$, '42501', null, 'odl_app cannot move a chain head');
select throws_ok($$select odl.audit_append('x', '{}')$$, '42501', null, 'odl_app cannot call the internal append');
select throws_ok(
    $$select odl.audit_append_as(current_setting('fixture.tenant_b'), null, 'x', '{}')$$,
    '42501', null,
    'odl_app cannot append to another tenant''s chain'
);
select throws_ok(
    $$select odl.odl_audit_verify(current_setting('fixture.tenant_a'))$$, '42501', null,
    'verification is for odl_admin'
);
select throws_ok(
    $$select odl.odl_audit_digest(current_setting('fixture.tenant_a'))$$, '42501', null, 'digests are for odl_admin'
);
select throws_ok(
    $$select * from odl.odl_audit_since(current_setting('fixture.tenant_a'), 0)$$, '42501', null,
    'export is for odl_admin'
);
select throws_ok($$select odl.odl_audit_rotate_key()$$, '42501', null, 'odl_app cannot rotate keys');
select throws_ok(
    $$select odl.audit_write(current_setting('fixture.tenant_a'), null, 'x.y', '{}', null, null)$$, '42501', null,
    'odl_app cannot call the append path'
);
select throws_ok(
    $$select * from odl.odl_audit_export_digests()$$, '42501', null, 'odl_app cannot export digests'
);
select odl.odl_clear_context();
reset role;

-- The events as stored: tenant, actor and project from the context, not from
-- the payload; app. in front of the action; a chain from 32 zero bytes.

select results_eq(
    $$
        select seq, action, actor_id::text, project_id::text, payload::text
        from odl.audit_events
        where tenant_id = current_setting('fixture.tenant_a')
        order by seq
    $$,
    $$
        values
        (1::bigint, 'app.login', current_setting('fixture.user_a'), null::text, '{"ip": "10.0.0.1"}'),
        (
            2, 'app.tool_call', current_setting('fixture.user_a'), null,
            format(
                '{"tool": "solver", "actor_id": "%s", "tenant_id": "%s", "project_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}',
                current_setting('fixture.user_b'), current_setting('fixture.tenant_b')
            )
        ),
        (3, 'app.logout', current_setting('fixture.user_a'), null, '{}')
    $$,
    'events carry the context''s actor, no project, and the payload as jsonb normalized it'
);
select is(
    (select prev_hash from odl.audit_events where tenant_id = current_setting('fixture.tenant_a') and seq = 1),
    decode(repeat('00', 32), 'hex'),
    'the chain starts from 32 zero bytes'
);
select is(
    (
        select count(*)::int
        from odl.audit_events as e
        inner join odl.audit_events as p on e.tenant_id = p.tenant_id and e.seq - 1 = p.seq
        where e.tenant_id = current_setting('fixture.tenant_a') and e.prev_hash = p.hash
    ),
    2,
    'each event holds the hash of the one before'
);
select is(
    (
        select count(*)::int
        from odl.audit_events as e
        where
            e.tenant_id = current_setting('fixture.tenant_a')
            and e.hash = sha256(
                e.prev_hash || timestamptz_send(e.created_at) || convert_to(concat_ws(
                    '|', e.seq, e.tenant_id, e.event_id, coalesce(e.actor_id::text, ''),
                    coalesce(e.project_id::text, ''), coalesce(e.doc_id::text, ''), e.action, e.payload
                ), 'UTF8')
            )
            and e.signature = odl.audit_hmac(e.key_id, e.hash)
    ),
    3,
    'hash = sha256(prev_hash || canonical event), signed by the key'
);
select results_eq(
    $$select seq, hash from odl.audit_heads where tenant_id = current_setting('fixture.tenant_a')$$,
    $$select seq, hash from odl.audit_events where tenant_id = current_setting('fixture.tenant_a') and seq = 3$$,
    'the head is the last event'
);

-- The internal appends of the API functions, as the owner runs them.

set local role odl_owner;
select throws_ok(
    $$select odl.audit_append('document.created', '{}')$$, 'ODC01', 'no tenant context is set',
    'audit_append() needs a context'
);
select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'));
select is(
    odl.audit_append('document.created', '{"version": 1}', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '01BX5ZZKBKACTAV9WEVGEMMVRZ'),
    4::bigint,
    'audit_append() continues the tenant''s chain'
);
select is(
    odl.audit_append_as(current_setting('fixture.tenant_b'), null, 'tenant.created', '{"name": "Tenant B"}'),
    1::bigint,
    'audit_append_as() starts another tenant''s chain'
);
select is(odl.odl_current_tenant_id(), current_setting('fixture.tenant_a'), 'audit_append_as() restores the context');
select throws_ok(
    $$select odl.audit_append('x.y', '{}', 'not-a-ulid')$$, '23514', null, 'ids must be ULIDs'
);
select throws_ok(
    $$select odl.audit_append_as(current_setting('fixture.tenant_b'), current_setting('fixture.user_a'), 'x.y', '{}')$$,
    'ODC02', 'user does not belong to tenant',
    'the actor must be a user of the tenant'
);
select throws_ok(
    $$select odl.audit_append_as('7ZZZZZZZZZZZZZZZZZZZZZZZZZ', null, 'x.y', '{}')$$,
    '23503', null,
    'a chain starts only for an existing tenant'
);

-- odl_owner, whose definer functions write documents, may not write the
-- ledger but through the append path; the triggers refuse what a superuser
-- would grant it.

select throws_ok(
    $$
        insert into odl.audit_events (tenant_id, seq, created_at, event_id, action, payload, prev_hash, hash, key_id, signature)
        values (current_setting('fixture.tenant_a'), 5, now(), odl.odl_ulid(), 'forged', '{}', '\x00', '\x00', 1, '\x00')
    $$,
    '42501', null,
    'odl_owner cannot insert events'
);
select throws_ok(
    $$update odl.audit_heads set seq = seq + 1$$, '42501', null, 'odl_owner cannot move a chain head'
);
select throws_ok($$update odl.audit_events set payload = '{}'$$, '42501', null, 'odl_owner cannot update events');
select throws_ok($$delete from odl.audit_events$$, '42501', null, 'odl_owner cannot delete events');
select throws_ok($$truncate odl.audit_events$$, '42501', null, 'odl_owner cannot truncate events');
select throws_ok($$delete from odl.audit_events_default$$, '42501', null, 'odl_owner cannot delete in a partition');
select throws_ok($$truncate odl.audit_events_default$$, '42501', null, 'odl_owner cannot truncate a partition');
select throws_ok($$delete from odl.audit_heads$$, '42501', null, 'odl_owner cannot delete chain heads');
select throws_ok($$select * from odl.audit_keys$$, '42501', null, 'odl_owner cannot read the keys');
select throws_ok($$delete from odl.audit_keys$$, '42501', null, 'odl_owner cannot delete keys');
select throws_ok($$update odl.audit_keys set inner_key = outer_key$$, '42501', null, 'odl_owner cannot change a key');
select throws_ok(
    $$select odl.audit_hmac(1, '\x00')$$, '42501', null, 'odl_owner cannot sign a message'
);
-- SET ROLE is checked against the session's user, a superuser here:
-- tests/python/test_ledger_tamper.py tries it from a login in odl_owner.
select ok(
    not pg_catalog.pg_has_role('odl_owner', 'odl_signer', 'member')
    and not pg_catalog.pg_has_role('odl_owner', 'odl_ledger', 'member'),
    'odl_owner can become neither odl_signer nor odl_ledger'
);
select throws_ok(
    $$drop table odl.audit_events_default$$, '42501', 'the audit ledger may be changed only by a superuser',
    'odl_owner, owner of schema odl, cannot drop a partition'
);
select throws_ok(
    $$drop function odl.audit_verify_chain(text, jsonb)$$, '42501',
    'the audit ledger may be changed only by a superuser',
    'nor a function of the ledger, to put its own in place'
);
select throws_ok(
    $$alter table odl.audit_events detach partition odl.audit_events_default$$, '42501', null,
    'nor detach a partition'
);
reset role;
grant update, delete, truncate on odl.audit_events to odl_owner;
grant delete, truncate on odl.audit_events_default to odl_owner;
set local role odl_owner;
select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'));
select throws_ok(
    $$update odl.audit_events set payload = '{}' where seq = 1$$, 'ODA01', 'audit events are append-only',
    'with UPDATE granted back, the trigger refuses it'
);
select throws_ok(
    $$delete from odl.audit_events where seq = 1$$, 'ODA01', 'audit events are append-only',
    'with DELETE granted back, the trigger refuses it'
);
select throws_ok(
    $$truncate odl.audit_events$$, 'ODA01', 'audit events are append-only',
    'with TRUNCATE granted back, the trigger refuses it'
);
select throws_ok(
    $$delete from odl.audit_events_default$$, 'ODA01', 'audit events are append-only',
    'a statement on a partition is refused too'
);
select throws_ok(
    $$truncate odl.audit_events_default$$, 'ODA01', 'audit events are append-only',
    'so is truncating a partition'
);
select odl.odl_clear_context();
reset role;

-- Superusers hold every privilege; the triggers still refuse.

select throws_ok(
    $$update odl.audit_events set payload = '{}'$$, 'ODA01', 'audit events are append-only',
    'a superuser cannot update events while the triggers are on'
);
select throws_ok(
    $$delete from odl.audit_events$$, 'ODA01', 'audit events are append-only',
    'a superuser cannot delete events while the triggers are on'
);
select throws_ok(
    $$truncate odl.audit_events$$, 'ODA01', 'audit events are append-only',
    'a superuser cannot truncate events while the triggers are on'
);
select throws_ok(
    $$truncate odl.audit_events_default$$, 'ODA01', 'audit events are append-only',
    'nor a partition'
);

-- Digest, verification and export, as odl_admin.

set local role odl_admin;
select is(
    odl.odl_audit_verify(current_setting('fixture.tenant_a')),
    '{"ok": true, "checked": 4, "first_broken_seq": null, "reason": null}'::jsonb,
    'an untouched chain verifies'
);
select set_config('fixture.digest', odl.odl_audit_digest(current_setting('fixture.tenant_a'))::text, true);
select is(
    (select array_agg(k order by k) from jsonb_object_keys(current_setting('fixture.digest')::jsonb) as k),
    array['hash', 'key_id', 'seq', 'signature', 'tenant_id', 'time'],
    'a digest has tenant_id, seq, hash, time, key_id and signature'
);
select is(
    (current_setting('fixture.digest')::jsonb ->> 'seq')::int, 4, 'the digest names the head''s seq'
);
select is(
    odl.odl_audit_verify(current_setting('fixture.tenant_a'), current_setting('fixture.digest')::jsonb),
    '{"ok": true, "checked": 4, "first_broken_seq": null, "reason": null}'::jsonb,
    'the chain matches its digest'
);
select is(
    odl.odl_audit_verify(
        current_setting('fixture.tenant_a'),
        jsonb_set(current_setting('fixture.digest')::jsonb, '{hash}', to_jsonb(repeat('ab', 32)))
    ) ->> 'reason',
    'head does not match the trusted digest',
    'a digest whose signature does not cover it is reported'
);
select throws_ok(
    format(
        $$select odl.odl_audit_verify(%L, %L)$$,
        current_setting('fixture.tenant_b'), current_setting('fixture.digest')
    ),
    'ODA02', 'invalid trusted digest',
    'a digest of another tenant is refused'
);
select throws_ok(
    format($$select odl.odl_audit_verify(%L, '{"seq": 1}')$$, current_setting('fixture.tenant_a')),
    'ODA02', 'invalid trusted digest',
    'a malformed digest is refused'
);
select throws_ok(
    $$select odl.odl_audit_verify('7ZZZZZZZZZZZZZZZZZZZZZZZZZ')$$, 'ODC03', 'tenant does not exist',
    'verifying an unknown tenant fails'
);
select is(
    odl.odl_audit_digest(current_setting('fixture.tenant_b')) ->> 'seq', '1', 'each tenant has its own chain'
);
select results_eq(
    format($$select seq from odl.odl_audit_since(%L, 1, 2)$$, current_setting('fixture.tenant_a')),
    $$values (2::bigint), (3)$$,
    'odl_audit_since() resumes after a seq, in order, up to the limit'
);
select is(odl.odl_current_tenant_id(), null, 'the admin functions leave the caller''s context as it was');
select is(
    (
        select count(*)::int from odl.odl_audit_export_digests() as d
        where d ->> 'tenant_id' in (current_setting('fixture.tenant_a'), current_setting('fixture.tenant_b'))
    ),
    2,
    'the export signs one digest per tenant with a chain'
);
select is(
    odl.odl_audit_verify(
        current_setting('fixture.tenant_a'), jsonb_build_array(current_setting('fixture.digest')::jsonb)
    ),
    '{"ok": true, "checked": 4, "first_broken_seq": null, "reason": null}'::jsonb,
    'verification takes an array of trusted digests'
);
reset role;
select is(
    (select count(*)::int from odl.audit_digests where tenant_id = current_setting('fixture.tenant_a') and seq = 4),
    1,
    'the ledger records the digests it issued'
);
reset role;

-- Analysts read their tenant's events through the view, as far as their
-- roles let them read the audit section: with none, nothing.

set local role odl_analyst;
select odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'));
select is_empty($$select * from odl.audit_trail$$, 'a reader without a role sees no event');
reset role;
-- Each user becomes auditor_legal (R on audit, confidential clearance) at
-- a PORTFOLIO of their tenant; the superuser writes these fixture rows.
do $$
declare
    t record;
    node text;
begin
    for t in
        select u.tenant_id, u.user_id from odl.users as u
        where u.user_id in (current_setting('fixture.user_a'), current_setting('fixture.user_b'))
    loop
        node := odl.odl_ulid();
        insert into odl.nodes (tenant_id, node_id, level, name, path, created_by)
        values (t.tenant_id, node, 'PORTFOLIO', 'Audit', array[node], t.user_id);
        insert into odl.rbac_assignments (tenant_id, user_id, node_id, role_id, granted_by)
        values (t.tenant_id, t.user_id, node, 'auditor_legal', t.user_id);
    end loop;
end
$$;
set local role odl_analyst;
select odl.odl_set_context(current_setting('fixture.tenant_b'), current_setting('fixture.user_b'));
select results_eq(
    $$select seq, action, classification from odl.audit_trail order by seq$$,
    $$values (1::bigint, 'tenant.created', 'confidential')$$,
    'an analyst sees the current tenant''s events only, classified confidential'
);
select odl.odl_set_context(current_setting('fixture.tenant_a'), current_setting('fixture.user_a'));
select results_eq(
    $$select seq, actor_email from odl.audit_trail where seq <= 2 order by seq$$,
    $$values (1::bigint, 'ann@a.example'), (2, 'ann@a.example')$$,
    'the view names the actor by e-mail'
);
select throws_ok($$select * from odl.audit_events_default$$, '42501', null, 'an analyst cannot read a partition');
select throws_ok($$select * from odl.audit_keys$$, '42501', null, 'an analyst cannot read the keys');
reset role;

-- Privileges, exactly.

select function_privs_are('odl', 'odl_audit_log', array['text', 'jsonb'], 'odl_app', array['EXECUTE']);
select function_privs_are('odl', 'odl_audit_verify', array['text', 'jsonb'], 'odl_admin', array['EXECUTE']);
select function_privs_are('odl', 'odl_audit_digest', array['text'], 'odl_admin', array['EXECUTE']);
select function_privs_are('odl', 'odl_audit_since', array['text', 'bigint', 'integer'], 'odl_admin', array['EXECUTE']);
select function_privs_are('odl', 'odl_audit_export_digests', array[]::text[], 'odl_admin', array['EXECUTE']);
select function_privs_are(
    'odl', 'audit_write', array['text', 'text', 'text', 'jsonb', 'text', 'text'], 'odl_owner', array['EXECUTE']
);
-- Analysts read the view, never the events themselves.
select table_privs_are('odl', 'audit_events', 'odl_analyst', array[]::text[]);

select * from finish();
rollback;
