-- Revert odl-db:canonical from pg
-- Restores the definitions released in @v0.1.0. Drop here, first,
-- anything the new version added.

\ir ../deploy/canonical@v0.1.0.sql
