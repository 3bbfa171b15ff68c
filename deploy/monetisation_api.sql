-- Deploy odl-db:monetisation_api to pg
-- requires: monetisation
-- requires: analyst_views
-- requires: access_api

begin;

\ir ../sql/100_monetisation/psu.sql
\ir ../sql/100_monetisation/subscriptions.sql
\ir ../sql/100_monetisation/marketplace.sql
\ir ../sql/100_monetisation/escrow.sql
\ir ../sql/100_monetisation/analyst_views.sql

call odl.adopt_objects();

commit;
