-- Deploy odl-db:identity_api to pg
-- requires: identity
-- requires: access_api

begin;

\ir ../sql/016_identity/identity.sql

call odl.adopt_objects();

commit;
