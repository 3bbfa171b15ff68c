-- Revert odl-db:embeddings_api from pg

begin;

drop function odl.odl_search(real[], text, integer, text[]);
drop function odl.odl_search_plan(text);
drop function odl.search_query(text, text, integer, integer);
drop function odl.refresh_search_plans(bigint, bigint);
drop function odl.search_plan_for(bigint, bigint, bigint);
drop function odl.odl_embed_status();
drop function odl.odl_embed_store(text, text[], text[], text[], real[][]);
drop function odl.odl_embed_claim(integer, interval);
drop function odl.odl_declare_embedding_model(text, integer);
drop function odl.search_readable(text);
drop function odl.embedding_model();
delete from odl.document_projectors where projector = 'chunks';
drop function odl.rebuild_chunks(text);
drop function odl.chunk_recut(integer);
drop function odl.chunk_sync_all(text, text, text, integer, jsonb);
drop function odl.project_chunks(text, text, text, integer, jsonb, text[]);
drop function odl.chunk_sync(text, text, text, integer, jsonb, text, boolean);
drop function odl.chunk_scopes(jsonb, text[]);
drop function odl.chunk_split(jsonb, text[]);
drop function odl.chunk_is_map(jsonb);
drop function odl.chunk_cut(jsonb, text, boolean);
drop function odl.chunk_body(text, jsonb);
drop function odl.chunk_text(text, jsonb);
delete from odl.error_codes where sqlstate like 'ODX%';

commit;
