-- Revert odl-db:canonical from pg
-- Restores the definitions released in @v0.1.0. Drop here, first,
-- anything the new version added.

drop function if exists odl.canonical_text(text);

\ir ../deploy/canonical@v0.1.0.sql
