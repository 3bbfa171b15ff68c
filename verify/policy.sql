-- Verify odl-db:policy on pg

select level, rank from odl.classification_levels where false;
select right_code, meaning, position from odl.rbac_rights where false;
select section, position, classification from odl.rbac_sections where false;
select key, section from odl.rbac_section_keys where false;
select pointer, classification from odl.rbac_classified_parts where false;
select role_id, mfa_required, approver, clearance, notes from odl.rbac_roles where false;
select set_id from odl.rbac_permission_sets where false;
select set_id, section, rights from odl.rbac_set_rights where false;
select role_id, set_id from odl.rbac_role_sets where false;
select role_id, section, rights from odl.rbac_role_overrides where false;
select agent from odl.rbac_agents where false;
select agent, role_id from odl.rbac_agent_roles where false;
select section from odl.rbac_approval_sections where false;
select phase, position from odl.project_phases where false;
select phase, section, mode, exempt_roles from odl.rbac_phase_gates where false;
select action, section, rights from odl.rbac_actions where false;
select level, depth from odl.hierarchy_levels where false;
select role_id, section, rights from odl.rbac_role_rights where false;
