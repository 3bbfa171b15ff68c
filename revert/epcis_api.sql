-- Revert odl-db:epcis_api from pg

begin;

drop function odl.odl_epcis_status_step(text);
drop function odl.odl_epcis_document(text, text);
drop function odl.odl_epcis_where(text);
drop function odl.odl_epcis_trace(text);
drop function odl.epcis_readable_projects();
drop function odl.odl_capture_epcis(text, jsonb);
drop function odl.epcis_check_event(jsonb, text, jsonb);
drop function odl.epcis_refuse(text, text);
drop function odl.odl_epcis_event_hash(jsonb, jsonb);
drop function odl.epcis_event_id(jsonb, jsonb);
drop function odl.epcis_prehash(jsonb, jsonb);
drop function odl.epcis_members(jsonb, text[], text[], jsonb);
drop function odl.epcis_extensions(jsonb, text[], jsonb);
drop function odl.epcis_extension(text, jsonb, jsonb);
drop function odl.epcis_prefixes(jsonb);
drop function odl.epcis_vocab(text, text, jsonb);
drop function odl.epcis_uri(text, jsonb);
drop function odl.epcis_digital_link(text);
drop function odl.gs1_check_digit(text);
drop function odl.epcis_scalar(jsonb);
drop function odl.epcis_time(text);
drop procedure odl.epcis_maintenance();
delete from odl.error_codes where sqlstate in ('ODE01', 'ODE02', 'ODE03', 'ODE04', 'ODE05');

commit;
