-- Verify odl-db:ai_lifecycle_api on pg

select 'odl.odl_ai_close_session(text)'::regprocedure;
select 'odl.ai_retention(interval)'::regprocedure;
select 'odl.cag_purge(integer)'::regprocedure;
select 'odl.ai_session_max_age()'::regprocedure;
select 1 / count(*)::int
from pg_catalog.pg_trigger
where tgrelid = 'odl.ai_sessions'::regclass and tgname = 'ai_sessions_guard' and tgenabled = 'O';
select 1 / count(*)::int from odl.error_codes where sqlstate = 'ODJ01';
