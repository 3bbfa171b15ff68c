-- What the demo shows of the document core: a document written the way the
-- ODL-SD spec writes one, stored as written; a patch, its change feed entry
-- and the instances projection it keeps up to date; what the writer's
-- per-backend cache holds. The spec document is created once; each run
-- adds a version to it.

\set SHOW_CONTEXT never
\set ON_ERROR_STOP on

select tenant_id as helios from odl.tenants where name = 'Helios Solar' \gset
select user_id as ada from odl.users where email = 'ada@helios.example' \gset
select user_id as dara from odl.users where email = 'dara@helios.example' \gset
select project_id as sunfield from odl.projects where name = 'Sunfield PV 50 MW' \gset
-- The spec document of an earlier run (its hierarchy names levels by type);
-- null, so unset, on the first run.
select
    (array_agg(d.doc_id order by d.created_at))[1] as spec_doc,
    (array_agg(d.version order by d.created_at))[1] as spec_version
from odl.odl_documents as d
where d.project_id = :'sunfield' and d.doc_json -> 'hierarchy' ? 'type' \gset
\set spec_document `/usr/bin/python3 fixtures/odlsd_spec.py 30000 5`

\echo
\echo '== ODL-SD as the spec writes it: hierarchy by type, components keyed by name, voltage_v.'
\c - odl_app
\echo '-- odl_validate_document() judges a document without storing it. The spec is silent on'
\echo '   whether a type_ref resolves, so one that does not is a warning, never a refusal:'
select severity, pointer, message
from odl.odl_validate_document(jsonb_set(:'spec_document', '{instances,0,type_ref}', '"no_such_component"'));
\echo '-- a document with a member that is no section is refused by the schema, naming the pointer'
select severity, pointer, message
from odl.odl_validate_document(jsonb_set(:'spec_document', '{catalogue}', '{}'))
where severity = 'error';

\if :{?spec_doc}
\else
\echo '-- ada creates it (once): stored exactly as written, with its RFC 8785 hash'
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select odl.odl_create_document(:'sunfield', :'spec_document') as spec_doc \gset
commit;
\set spec_version 1
\endif

\echo
\echo '== A patch: the writer works from the backend''s cached copy of the document.'
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select p.version, p.outcome, p.doc_hash
from odl.odl_apply_patch(
    :'spec_doc',
    jsonb_build_array(
        jsonb_build_object(
            'op', 'replace', 'path', '/instances/0/lifecycle_status',
            'value', case when :spec_version % 2 = 0 then 'installed' else 'commissioned' end
        ),
        jsonb_build_object(
            'op', 'add', 'path', '/instances/-',
            'value', jsonb_build_object(
                'id', 'demo-meter-' || :spec_version, 'type_ref', 'revenue_meter',
                'lifecycle_status', 'planned', 'location', jsonb_build_object('lat', 38.7150, 'lon', -9.1390)
            )
        )
    ),
    :spec_version
) as p;
commit;

\echo '-- the change feed: each version, the pointers it changed, and a position to resume from'
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select f.version, f.changed_pointers, f.position
from odl.odl_changes_since(null, 10000) as f
where f.doc_id = :'spec_doc'
order by f.position desc
limit 3;
commit;

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
