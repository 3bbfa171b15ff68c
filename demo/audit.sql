-- What the demo shows: the audit ledger of Helios Solar. Events are chained
-- by hash, the head is signed as a digest kept outside the database, the
-- chain verifies against it, and a superuser's tampering is found. It all
-- runs in one transaction that is rolled back, so each step takes the role
-- that is granted it with set local role instead of reconnecting.

\set SHOW_CONTEXT never

select tenant_id as helios from odl.tenants where name = 'Helios Solar' \gset
select user_id as ana from odl.users where email = 'ana@helios.example' \gset

\echo
\echo '== The audit ledger of Helios Solar: each write appends an event to the tenant''s hash chain.'
\echo '(All of this runs in one transaction that is rolled back at the end.)'
\set ON_ERROR_ROLLBACK on
begin;

\echo '-- as odl_app, ana logs in and creates a project; each call appends an event:'
set local role odl_app;
select odl.odl_set_context(:'helios', :'ana') is null as done \gset
select odl.odl_audit_log('login', '{"method": "sso", "ip": "203.0.113.7"}') as login_seq \gset
select odl.odl_create_project('Dune Ridge PV 20 MW') is null as done \gset
select odl.odl_audit_log('report.exported', '{"report": "monthly yield"}') is null as done \gset
reset role;

\echo '-- the tail of the chain (as the superuser): each prev_hash is the hash of the event before'
select tail.seq, tail.action, tail.actor, tail.prev_hash, tail.hash
from (
    select
        e.seq,
        e.action,
        coalesce(u.email, '(no actor)') as actor,
        left(encode(e.prev_hash, 'hex'), 12) as prev_hash,
        left(encode(e.hash, 'hex'), 12) as hash
    from odl.audit_events as e
    left join odl.users as u on e.tenant_id = u.tenant_id and e.actor_id = u.user_id
    where e.tenant_id = :'helios'
    order by e.seq desc
    limit 6
) as tail
order by tail.seq;

\echo '-- as odl_admin, a signed digest of the head, to be kept outside the database:'
set local role odl_admin;
select odl.odl_audit_digest(:'helios') as digest \gset
select
    d.seq,
    d.time,
    d.key_id,
    left(d.hash, 12) as hash,
    left(d.signature, 12) as signature
from jsonb_to_record(:'digest') as d (seq bigint, hash text, time text, key_id integer, signature text);

\echo '-- verification recomputes the chain and checks it against the digest:'
select v.ok, v.checked, v.first_broken_seq, v.reason
from jsonb_to_record(odl.odl_audit_verify(:'helios', :'digest'))
    as v (ok boolean, checked bigint, first_broken_seq bigint, reason text);
reset role;

\echo '-- not even the superuser may change an event; the triggers refuse it:'
update odl.audit_events set payload = '{"ip": "198.51.100.9", "method": "sso"}'
where tenant_id = :'helios' and seq = :login_seq;

\echo '-- a superuser switches the triggers off and rewrites where ana logged in from:'
select e.payload as logged from odl.audit_events as e where e.tenant_id = :'helios' and e.seq = :login_seq \gset
set local session_replication_role = replica;
update odl.audit_events set payload = '{"ip": "198.51.100.9", "method": "sso"}'
where tenant_id = :'helios' and seq = :login_seq;
set local session_replication_role = origin;
select e.seq, e.action, e.payload, :'logged' as was
from odl.audit_events as e
where e.tenant_id = :'helios' and e.seq = :login_seq;

\echo '-- verification names the broken event:'
set local role odl_admin;
select v.ok, v.checked, v.first_broken_seq, v.reason
from jsonb_to_record(odl.odl_audit_verify(:'helios', :'digest'))
    as v (ok boolean, checked bigint, first_broken_seq bigint, reason text);
rollback;
\set ON_ERROR_ROLLBACK off
