-- Revert odl-db:audit_api from pg
-- Restores the definitions released in @v0.2.0. Drop here, first,
-- anything the new version added.

\ir ../deploy/audit_api@v0.2.0.sql
