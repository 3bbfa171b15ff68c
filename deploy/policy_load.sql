-- Deploy odl-db:policy_load to pg
-- requires: policy

begin;

\ir ../sql/017_policy/load_access_policy.sql
\set source `cat policy/access.json`
call odl.load_access_policy(:'source');

call odl.adopt_objects();

commit;
