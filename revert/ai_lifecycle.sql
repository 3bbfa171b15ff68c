-- Revert odl-db:ai_lifecycle from pg

begin;

-- Which sessions were closed is data: refused unless the DBA said so.
\set data_tables 'odl.ai_sessions where closed_at is not null'
\ir lib/refuse_data_loss.psql

delete from odl.settings where name in ('ai_session_max_age', 'ai_message_retention');
alter table odl.ai_sessions
drop constraint ai_sessions_closed_reason,
drop column closed_reason,
drop column closed_at;

commit;
