-- Deploy odl-db:billing_api to pg
-- requires: billing
-- requires: monetisation_api
-- requires: analyst_views

begin;

\ir ../sql/120_billing/cycles.sql
\ir ../sql/120_billing/plan_change.sql
\ir ../sql/120_billing/invoices.sql
\ir ../sql/120_billing/subscription.sql
\ir ../sql/120_billing/analyst_views.sql

call odl.adopt_objects();

commit;
