-- Revert odl-db:odl_sd_schema from pg
-- Restores the definitions released in @v0.1.0. Drop here, first,
-- anything the new version added.

\ir ../deploy/odl_sd_schema@v0.1.0.sql
