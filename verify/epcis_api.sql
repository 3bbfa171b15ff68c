-- Verify odl-db:epcis_api on pg

select 1 / (count(*) = 5)::int from odl.error_codes where sqlstate in ('ODE01', 'ODE02', 'ODE03', 'ODE04', 'ODE05');
select 1 / pg_catalog.has_function_privilege('odl_app', 'odl.odl_capture_epcis(text, jsonb)', 'EXECUTE')::int;
select 1 / pg_catalog.has_function_privilege('odl_app', 'odl.odl_epcis_document(text, text)', 'EXECUTE')::int;
select 1 / pg_catalog.has_function_privilege('odl_app', 'odl.odl_epcis_trace(text)', 'EXECUTE')::int;
select 1 / pg_catalog.has_function_privilege('odl_app', 'odl.odl_epcis_where(text)', 'EXECUTE')::int;
select 1 / pg_catalog.has_function_privilege('odl_app', 'odl.odl_epcis_status_step(text)', 'EXECUTE')::int;
-- The hash of a known event (tests/python/test_epcis.py, vector minimal).
select 1 / (
    odl.epcis_prehash(
        '{"type": "ObjectEvent", "eventTime": "2026-01-02T03:04:05Z", "eventTimeZoneOffset": "+00:00",
          "epcList": ["urn:epc:id:sgtin:4012345.011111.1"], "action": "OBSERVE"}',
        '{}'
    ) = 'eventType=ObjectEventeventTime=2026-01-02T03:04:05.000ZeventTimeZoneOffset=+00:00'
    || 'epcListepc=https://id.gs1.org/01/04012345111118/21/1action=OBSERVE'
)::int;
select odl.epcis_check_event('{}', '', '{}') where false;
-- Every partition adopted by odl.epcis_maintenance().
select 1 / (count(*) = 0)::int
from pg_catalog.pg_inherits as i
inner join pg_catalog.pg_class as c on i.inhrelid = c.oid
where i.inhparent = 'odl.epcis_events'::regclass and c.relowner <> 'odl_owner'::regrole;
