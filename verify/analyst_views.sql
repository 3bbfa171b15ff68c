-- Verify odl-db:analyst_views on pg

select project_id, phase, node_level, path_names, documents from odl.analyst_projects where false;
select doc_id, version, day, author_email, operations, changed_pointers, intent from odl.analyst_patches where false;
select day, author_email, versions, operations from odl.analyst_patches_daily where false;
select change_id, status, author_email, age, sections, patch, redacted from odl.analyst_change_requests where false;
select project_id, type_ref, lifecycle_status, instances from odl.analyst_instance_counts where false;
select day, action, project_id, events from odl.analyst_audit_actions where false;
-- Every view a security barrier that only odl_analyst (and its owner) may read.
select 1 / (count(*) = 6)::int
from pg_catalog.pg_class as c
where c.oid in (
    'odl.analyst_projects'::regclass, 'odl.analyst_patches'::regclass, 'odl.analyst_patches_daily'::regclass,
    'odl.analyst_change_requests'::regclass, 'odl.analyst_instance_counts'::regclass,
    'odl.analyst_audit_actions'::regclass
)
and 'security_barrier=true' = any(c.reloptions)
and pg_catalog.has_table_privilege('odl_analyst', c.oid, 'SELECT')
and not pg_catalog.has_table_privilege('odl_app', c.oid, 'SELECT');
select 1 / pg_catalog.has_function_privilege(
    'odl_analyst', 'odl.pointers_readable(text[], text[], text[])', 'EXECUTE'
)::int;
