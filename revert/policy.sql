-- Revert odl-db:policy from pg

begin;

drop materialized view odl.rbac_role_rights;
drop table
odl.rbac_actions, odl.rbac_phase_gates, odl.project_phases, odl.rbac_approval_sections, odl.rbac_agent_roles,
odl.rbac_agents, odl.rbac_role_overrides, odl.rbac_role_sets, odl.rbac_set_rights, odl.rbac_permission_sets,
odl.rbac_roles, odl.rbac_classified_parts, odl.rbac_section_keys, odl.rbac_sections, odl.rbac_rights,
odl.classification_levels, odl.hierarchy_levels;

commit;
