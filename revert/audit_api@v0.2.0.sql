-- Revert odl-db:audit_api from pg
-- Restores the definitions released in @v0.1.0. Drop here, first,
-- anything the new version added.

drop function if exists odl.audit_verify_chain(text, jsonb);
drop function if exists odl.audit_digest_holds(text, jsonb);
drop function if exists odl.odl_audit_export_digests();
drop function if exists odl.audit_head_digest(text);
drop function if exists odl.audit_event_id();
drop function if exists odl.audit_sign(bytea);
drop function if exists odl.require_tenant(text);

\ir ../deploy/audit_api@v0.1.0.sql

-- create or replace keeps a routine's grants: take back the one this
-- version gave.
revoke execute on function odl.audit_hmac(integer, bytea) from odl_ledger;
