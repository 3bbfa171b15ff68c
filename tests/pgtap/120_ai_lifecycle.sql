-- How AI sessions end: the closing columns and their constraint, the
-- guard trigger that every append and summary passes, the settings the
-- job and the trigger read, and the errors of the API and the jobs.
begin;
select plan(10);

select has_column('odl', 'ai_sessions', 'closed_at', 'a session records when it closed');
select col_has_check('odl', 'ai_sessions', array['closed_at', 'closed_reason'], 'a closed session says why');
select has_trigger('odl', 'ai_sessions', 'ai_sessions_guard', 'a trigger guards closed and expired sessions');
select results_eq(
    $$select name, value::interval from odl.settings where name like 'ai\_%' order by name$$,
    $$values ('ai_message_retention', interval '30 days'), ('ai_session_max_age', interval '24 hours')$$,
    'sessions take messages for 24 hours and are kept 30 days (supplement §4.2)'
);
select is(odl.ai_session_max_age(), interval '24 hours', 'the trigger reads the maximum age from the settings');
select throws_ok(
    $$select odl.odl_ai_close_session('01ARZ3NDEKTSV4RRFFQ69G5FAV')$$, 'ODC01', 'no tenant context is set',
    'closing a session needs a context'
);
select throws_ok(
    $$select odl.cag_purge(0)$$, '22023', 'a purge batch holds 1 to 1,000,000 entries',
    'a purge batch is bounded'
);
select throws_ok(
    $$select odl.ai_retention(interval '1 hour')$$, '22023', 'AI messages are kept at least a day',
    'retention keeps at least a day'
);
select is(
    (select count(*)::int from odl.error_codes where sqlstate = 'ODJ01' and name = 'ai_session_closed'), 1,
    'ODJ01 is registered'
);
select function_privs_are(
    'odl', 'ai_retention', array['interval'], 'odl_app', array[]::text[],
    'applications cannot run retention'
);

select * from finish();
rollback;
