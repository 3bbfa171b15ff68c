-- Deploy odl-db:ai_lifecycle to pg
-- requires: ai_memory
-- requires: identity
-- How AI sessions end and what is kept: a session is closed by its user or
-- expires at its maximum age, after which nothing is appended to it, and
-- its messages are kept for a retention period, then dropped with their
-- monthly partition (never deleted row by row). The functions are the
-- change ai_lifecycle_api's (sql/120_ai_lifecycle).

begin;

alter table odl.ai_sessions
add column closed_at timestamptz,
add column closed_reason text,
add constraint ai_sessions_closed_reason check (
    (closed_at is null) = (closed_reason is null) and closed_reason in ('closed', 'expired')
);
comment on column odl.ai_sessions.closed_at is
'When the session was closed; nothing is appended to a closed session nor its summary replaced';
comment on column odl.ai_sessions.closed_reason is
'closed: by its user (odl_ai_close_session); expired: past ai_session_max_age (odl.ai_retention)';
comment on constraint ai_sessions_closed_reason on odl.ai_sessions is
'A closed session, and only a closed one, says why: closed by its user or expired';

-- The daily retention job reads the sessions of every tenant by age with a
-- sequential scan: an index across tenants would not lead with tenant_id,
-- and the sessions are few next to their messages.

insert into odl.settings (name, value, description) values
(
    'ai_session_max_age', '24 hours',
    'How long an AI session takes messages after it opened (an interval); then it expires'
),
(
    'ai_message_retention', '30 days',
    'How long AI sessions and their messages are kept at least (an interval): odl.ai_retention() drops each month '
    'of messages wholly older, with the sessions that began in it or before'
);

call odl.adopt_objects();

commit;
