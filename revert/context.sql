-- Revert odl-db:context from pg
-- Restores the definitions released in @v0.2.0. Drop here, first,
-- anything the new version added.

\ir ../deploy/context@v0.2.0.sql
