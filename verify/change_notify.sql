-- Verify odl-db:change_notify on pg

select 1 / count(*)
from odl.document_projectors
where projector = 'notify' and handler = 'odl.notify_version(text, text, text, integer, jsonb, text[])'::regprocedure;

select
    'odl.notify_rights()'::regprocedure,
    'odl.notify_policy()'::regprocedure,
    'odl.odl_rights_stable_until()'::regprocedure;

-- Four tenant tables notify rights, twelve policy tables notify the policy.
select
    1 / (count(*) filter (where t.tgname like '%\_notify\_rights') / 4)
    / (count(*) filter (where t.tgname like '%\_notify\_policy') / 12)
from pg_catalog.pg_trigger as t
where t.tgrelid::regclass::text like 'odl.%' and not t.tgisinternal;
select 'odl.odl_change_channel()'::regprocedure;
