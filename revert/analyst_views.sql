-- Revert odl-db:analyst_views from pg

begin;

drop view if exists odl.analyst_audit_actions;
drop view if exists odl.analyst_instance_counts;
drop view if exists odl.analyst_change_requests;
drop view if exists odl.analyst_patches_daily;
drop view if exists odl.analyst_patches;
drop view if exists odl.analyst_projects;
-- readable_project and reader_scope stay: odl.readable_documents and
-- odl.audit_trail grant them to analysts too.
revoke execute on function
odl.pointer_reach(text, text[], text[]), odl.pointers_readable(text[], text[], text[]), odl.patch_pointers(jsonb),
odl.pointer_steps(text)
from odl_analyst;

commit;
