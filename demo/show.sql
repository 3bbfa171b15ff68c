-- What the demo shows: tenant isolation by row-level security, as an
-- application (odl_app) sees it.

\set SHOW_CONTEXT never

select tenant_id as helios from odl.tenants where name = 'Helios Solar' \gset
select user_id as ana from odl.users where email = 'ana@helios.example' \gset
select tenant_id as borealis from odl.tenants where name = 'Borealis Storage' \gset
select user_id as cy from odl.users where email = 'cy@borealis.example' \gset
select user_id as ada from odl.users where email = 'ada@helios.example' \gset
select user_id as ben from odl.users where email = 'ben@helios.example' \gset

\echo
\echo '== Connected as odl_app, the role applications log in as.'
\c - odl_app
\echo 'One query, no tenant filter in it: RLS supplies the filter from odl_set_context().'
\echo '  select tenant_name, project_name, phase, classification from odl.project_summary'

\echo
\echo '-- as Helios Solar (user ana):'
begin;
select odl.odl_set_context(:'helios', :'ana') is null as done \gset
select tenant_name, project_name, phase, classification, created_by_email
from odl.project_summary order by project_name;
commit;

\echo '-- as Borealis Storage (user cy):'
begin;
select odl.odl_set_context(:'borealis', :'cy') is null as done \gset
select tenant_name, project_name, phase, classification, created_by_email
from odl.project_summary order by project_name;
commit;

\echo '-- with no tenant set (the context lasts one transaction): nothing is visible'
select
    (select count(*) from odl.tenants) as tenants,
    (select count(*) from odl.users) as users,
    (select count(*) from odl.projects) as projects;

\echo '-- writing with no tenant set is refused with a clear error:'
select odl.odl_create_project('Orphan');

\echo '-- a user cannot act in another tenant:'
select odl.odl_set_context(:'helios', :'cy');

\echo '-- applications never write tables directly:'
insert into odl.projects (tenant_id, name, created_by) values (:'helios', 'Sneaky', :'ana');

\echo
\echo '== ODL-SD documents: changed only through odl_apply_patch(), every version kept.'
\echo '(All of this runs in one transaction that is rolled back at the end, so the demo'
\echo ' leaves its data as it found it. Who may do what is shown by demo/access.sql.)'
\set ON_ERROR_ROLLBACK on
\set document `/usr/bin/python3 fixtures/odlsd.py 12000 3`
begin;
select odl.odl_set_context(:'helios', :'ada') is null as done \gset
select project_id as sunfield from odl.project_summary where project_name = 'Sunfield PV 50 MW' \gset

\echo '-- ada (super_user, W on every section) creates a 12 KB document for Sunfield PV 50 MW: version 1'
select odl.odl_create_document(:'sunfield', :'document') as doc \gset
select version, doc_hash, schema_version from odl.odl_document_heads(:'sunfield');

\echo '-- ana (engineer) patches it. Patch 1: an inverter is installed and a note added;'
\echo '   the reply carries the exact inverse'
select odl.odl_set_context(:'helios', :'ana') is null as done \gset
select version, doc_hash, inverse_patch, outcome
from odl.odl_apply_patch(
    :'doc',
    '[{"op": "replace", "path": "/instances/3/lifecycle_status", "value": "installed"},
      {"op": "add", "path": "/meta/note", "value": "inverter on site"}]',
    1,
    intent => 'inverter delivered',
    evidence_uris => '{https://evidence.example/delivery-note-17.pdf}'
);

\echo '-- patch 2, written against version 2:'
select version, doc_hash
from odl.odl_apply_patch(:'doc', '[{"op": "replace", "path": "/meta/note", "value": "inverter commissioned"}]', 2);

\echo '-- a writer still holding version 2 is refused, and told the current version:'
select version from odl.odl_apply_patch(:'doc', '[{"op": "remove", "path": "/meta/note"}]', 2);

\echo '-- a schema-invalid patch is refused, naming the pointer; nothing changes:'
select version from odl.odl_apply_patch(
    :'doc', '[{"op": "replace", "path": "/instances/3/lifecycle_status", "value": "on_fire"}]', 3
);

\echo '-- a dry run returns the would-be document and writes nothing:'
select version, inverse_patch, document #>> '{meta,note}' as would_be_note
from odl.odl_apply_patch(:'doc', '[{"op": "replace", "path": "/meta/note", "value": "dry"}]', 3, dry_run => true);
select version as still_version from odl.odl_document_heads(:'sunfield');

\echo '-- revert to version 1, recorded as a patch like any other:'
select version, doc_hash from odl.odl_revert_document(:'doc', 1, 3);

\echo '-- the history; version 4 has version 1''s hash:'
select version, doc_hash, intent, operations, evidence_uris from odl.odl_document_history(:'doc');

\echo '-- any past version reads back exactly (read by ben, a project manager, who may read every section):'
select odl.odl_set_context(:'helios', :'ben') is null as done \gset
select
    g.redacted,
    g.document #>> '{meta,note}' as note_in_version_2,
    odl.odl_content_hash(g.document) = (
        select h.doc_hash from odl.odl_document_history(:'doc') as h where h.version = 2
    ) as hash_matches
from odl.odl_get_document(:'doc', 2) as g;
rollback;
\set ON_ERROR_ROLLBACK off

\echo
\echo '== The catalog audit (odl_security_audit), as a DBA: no findings means clean.'
\c - postgres
select count(*) as findings from odl.odl_security_audit();
