-- Deploy odl-db:documents_api to pg
-- Reworked after @v0.2.0: The instances projector reaches an element with #> again:
-- -> on /instances copied the whole array once per changed element
-- v0.2.0, Document core v2: reworked from @v0.1.0 (see deploy/documents_api@v0.1.0.sql)
-- requires: documents
-- requires: canonical
-- requires: access_api
-- requires: documents_v2

begin;

\set source `cat plpython/odl_db/jsonpatch.py`
call odl.python_install('odl_db.jsonpatch', :'source');
\set source `cat plpython/odl_db/pieces.py`
call odl.python_install('odl_db.pieces', :'source');
\set source `cat plpython/odl_db/integrity.py`
call odl.python_install('odl_db.integrity', :'source');
\set source `cat plpython/odl_db/validation.py`
call odl.python_install('odl_db.validation', :'source');
\set source `cat plpython/odl_db/sandbox.py`
call odl.python_install('odl_db.sandbox', :'source');
\set source `cat plpython/odl_db/documents.py`
call odl.python_install('odl_db.documents', :'source');

\ir ../sql/040_documents_api/engine.sql
\ir ../sql/040_documents_api/store_document_blobs.sql
\ir ../sql/040_documents_api/json_schemas.sql
\ir ../sql/040_documents_api/odl_create_document.sql
\ir ../sql/040_documents_api/odl_validate_document.sql
\ir ../sql/040_documents_api/odl_apply_patch.sql
\ir ../sql/040_documents_api/odl_get_document.sql
\ir ../sql/040_documents_api/odl_document_heads.sql
\ir ../sql/040_documents_api/odl_revert_document.sql
\ir ../sql/040_documents_api/change_requests.sql
\ir ../sql/040_documents_api/readable_documents.sql
\ir ../sql/040_documents_api/odl_jsonpatch.sql
\ir ../sql/040_documents_api/change_feed.sql

call odl.adopt_objects();

commit;
