-- Revert odl-db:components_api from pg

begin;

drop view if exists odl.analyst_component_instances;
drop view if exists odl.readable_components;
drop function if exists odl.odl_set_component_status(text, text, text, integer, text, boolean);
delete from odl.document_projectors where projector = 'components';
drop function if exists odl.rebuild_components(text);
drop function if exists odl.project_components(text, text, text, integer, jsonb, text[]);
drop function if exists odl.component_pointer(text, text, text);
drop function if exists odl.component_rows(text, text, text, jsonb, text[]);
drop function if exists odl.component_write_roles(text, text, text);
drop function if exists odl.component_transition_refusal(text, text, text[], text[], jsonb);
delete from odl.error_codes where sqlstate in ('ODK01', 'ODK02', 'ODK03', 'ODK04', 'ODK05');

commit;
