-- Revert odl-db:context from pg
-- Restores the definitions released in @v0.1.0. Drop here, first,
-- anything the new version added.

begin;
drop function odl.odl_set_context(text, text, text);
commit;

\ir ../deploy/context@v0.1.0.sql
