-- Verify odl-db:ai_lifecycle on pg

select closed_at, closed_reason from odl.ai_sessions where false;
select 1 / count(*)::int
from pg_catalog.pg_constraint
where conrelid = 'odl.ai_sessions'::regclass and conname = 'ai_sessions_closed_reason';
select 1 / (count(*) = 2)::int
from odl.settings
where name in ('ai_session_max_age', 'ai_message_retention') and value::interval > interval '0';
