-- Revert odl-db:security_audit from pg
-- Restores the definitions released in @v0.1.0. Drop here, first,
-- anything the new version added.

\ir ../deploy/security_audit@v0.1.0.sql
