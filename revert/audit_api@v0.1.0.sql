-- Revert odl-db:audit_api from pg

begin;

drop function odl.odl_audit_since(text, bigint, integer);
drop function odl.odl_audit_verify(text, jsonb);
drop function odl.audit_classify(text, bigint);
drop function odl.audit_first_bad_signature(text, bigint);
drop function odl.odl_audit_digest(text);
drop function odl.audit_digest_message(jsonb);
drop function odl.odl_audit_log(text, jsonb);
drop function odl.audit_append_as(text, text, text, jsonb, text, text);
drop function odl.audit_append(text, jsonb, text, text);
drop function odl.audit_write(text, text, text, jsonb, text, text);
drop procedure odl.audit_maintenance();
drop function odl.audit_protect_partitions();
-- With the triggers of odl.audit_events and of each partition.
drop function odl.audit_refuse_change() cascade;
drop function odl.audit_hmac(integer, bytea);
drop function odl.odl_audit_rotate_key();
delete from odl.error_codes where sqlstate ~ '^ODA';

commit;
