-- Deploy odl-db:traces_api to pg
-- requires: traces
-- requires: monetisation_api

begin;

\ir ../sql/110_traces/traces.sql

call odl.adopt_objects();

commit;
