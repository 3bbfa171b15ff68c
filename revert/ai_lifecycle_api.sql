-- Revert odl-db:ai_lifecycle_api from pg

begin;

drop function odl.cag_purge(integer);
drop function odl.ai_retention(interval);
drop function odl.odl_ai_close_session(text);
drop trigger ai_sessions_guard on odl.ai_sessions;
drop function odl.ai_session_guard();
drop function odl.ai_session_max_age();
delete from odl.error_codes where sqlstate = 'ODJ01';

commit;
