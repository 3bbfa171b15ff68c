-- What the demo shows of the document core, after `demo/app.py spec` (the
-- Python client) validated, created once and patched a document written the
-- way the ODL-SD spec writes one: the instances projection the patches keep
-- up to date, as an analyst reads it; and what the writer's per-backend
-- cache holds, which only a write and a look in the same backend can show,
-- so that last write stays in psql.

\set SHOW_CONTEXT never
\set ON_ERROR_STOP on

select tenant_id as helios from odl.tenants where name = 'Helios Solar' \gset
select user_id as ada from odl.users where email = 'ada@helios.example' \gset
select user_id as dara from odl.users where email = 'dara@helios.example' \gset
select project_id as sunfield from odl.projects where name = 'Sunfield PV 50 MW' \gset
-- The spec document (its hierarchy names levels by type).
select (array_agg(d.doc_id order by d.created_at))[1] as spec_doc
from odl.odl_documents as d
where d.project_id = :'sunfield' and d.doc_json -> 'hierarchy' ? 'type' \gset

\echo
\echo '== The instances projection, as an analyst reads it (the same rights as the documents).'
\echo '-- dara, a data analyst, reads the instances of the document by lifecycle status'
\c - postgres
set role odl_analyst;
begin;
select odl.odl_set_context(:'helios', :'dara') is null as done \gset
select i.lifecycle_status, count(*) as instances
from odl.readable_instances as i
where i.doc_id = :'spec_doc'
group by i.lifecycle_status
order by i.lifecycle_status;
commit;

\echo
\echo '== What a backend''s document cache holds after writing (odl_owner only):'
reset role;
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select p.version
from odl.odl_apply_patch(
    :'spec_doc',
    '[{"op": "add", "path": "/meta/timestamps/updated_at", "value": "2026-12-03T10:00:00Z"}]',
    (select h.version from odl.odl_document_heads(:'sunfield') as h where h.doc_id = :'spec_doc')
) as p;
commit;
select odl.document_cache_stats() as cache;
