-- Revert odl-db:change_notify from pg

begin;

delete from odl.document_projectors where projector = 'notify';

do $$
declare
    tbl text;
begin
    foreach tbl in array array['users', 'nodes', 'projects', 'rbac_assignments'] loop
        execute format('drop trigger %I on odl.%I', tbl || '_notify_rights', tbl);
    end loop;
    foreach tbl in array array[
        'classification_levels', 'rbac_sections', 'rbac_section_keys', 'rbac_classified_parts', 'rbac_rights',
        'rbac_permission_sets', 'rbac_set_rights', 'rbac_roles', 'rbac_role_sets', 'rbac_role_overrides',
        'rbac_agents', 'rbac_agent_roles'
    ] loop
        execute format('drop trigger %I on odl.%I', tbl || '_notify_policy', tbl);
    end loop;
end
$$;

drop function odl.odl_rights_stable_until();
drop function odl.notify_policy();
drop function odl.notify_rights();
drop function odl.notify_version(text, text, text, integer, jsonb, text[]);
drop function odl.odl_change_channel();

commit;
