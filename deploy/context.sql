-- Deploy odl-db:context to pg
-- Reworked after @v0.2.0: Residency: odl_set_context() refuses a tenant homed in
-- another region (ODW03) and, outside read-only transactions, a tenant on its
-- way to another region (ODW04)
-- Reworked after @v0.1.0: Identity: a context nobody can borrow, valid in read-only transactions and on standbys
-- requires: ownership

begin;

\ir ../sql/015_context/context.sql

call odl.adopt_objects();

commit;
