-- Deploy odl-db:procurement_api to pg
-- requires: procurement
-- requires: access_api
-- requires: audit_api
-- requires: analyst_views

begin;

\ir ../sql/100_procurement/rules.sql
\ir ../sql/100_procurement/invariants.sql
\ir ../sql/100_procurement/suppliers.sql
\ir ../sql/100_procurement/rfqs.sql
\ir ../sql/100_procurement/orders.sql
\ir ../sql/100_procurement/inventory.sql
\ir ../sql/100_procurement/claims.sql
\ir ../sql/100_procurement/views.sql
\ir ../sql/100_procurement/visibility.sql

call odl.adopt_objects();

commit;
