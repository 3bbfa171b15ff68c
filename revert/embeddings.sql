-- Revert odl-db:embeddings from pg

begin;

\set data_tables 'odl.embedding_models,odl.chunk_embeddings'
\ir lib/refuse_data_loss.psql

drop type odl.search_hit;
drop table odl.search_plans;
drop table odl.chunk_embeddings;
drop table odl.chunk_recuts;
drop table odl.chunks;
drop table odl.embedding_models;
drop extension vector;
drop schema pgvector;

commit;
