-- Deploy odl-db:embeddings_api to pg

begin;

\ir ../sql/120_embeddings/chunks.sql
\ir ../sql/120_embeddings/embed.sql
\ir ../sql/120_embeddings/search.sql

call odl.adopt_objects();

commit;
