-- Revert odl-db:operations from pg
-- Restores the definitions released in @v0.2.0. Drop here, first,
-- anything the new version added.

revoke execute on function odl.audit_partition_status() from odl_owner;

\ir ../deploy/operations@v0.2.0.sql
