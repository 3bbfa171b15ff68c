-- AI memory's shape: tenant-keyed tables under forced RLS, messages
-- partitioned monthly by pg_partman with the partition key in the primary
-- key, composite foreign keys with tenant_id, the CAG projector registered,
-- and no API call without a context.
begin;
select plan(16);

select has_table('odl', 'ai_sessions', 'sessions exist');
select has_table('odl', 'ai_messages', 'messages exist');
select has_table('odl', 'cag_entries', 'CAG entries exist');
select has_table('odl', 'cag_dependencies', 'CAG dependencies exist');
select col_is_pk(
    'odl', 'ai_messages', array['tenant_id', 'session_id', 'seq', 'created_at'],
    'the messages'' primary key leads with the tenant and holds the partition key'
);
select col_is_pk('odl', 'cag_entries', array['tenant_id', 'cache_key'], 'CAG entries are keyed by tenant and hash');
select is(
    (select pg_catalog.pg_get_partkeydef('odl.ai_messages'::regclass)), 'RANGE (created_at)',
    'messages are partitioned by created_at'
);
select is(
    (select p.partition_interval from partman.part_config as p where p.parent_table = 'odl.ai_messages'), '1 mon',
    'pg_partman makes monthly partitions of the messages'
);
select ok(
    exists (
        select from
            pg_catalog.pg_inherits as i where
            i.inhparent = 'odl.ai_messages'::regclass
            and i.inhrelid = 'odl.ai_messages_default'::regclass
    ),
    'a default partition takes messages no month holds'
);
select is_empty(
    $$
        select c.relname from pg_catalog.pg_class as c
        where c.oid in ('odl.ai_sessions'::regclass, 'odl.ai_messages'::regclass, 'odl.cag_entries'::regclass,
            'odl.cag_dependencies'::regclass)
            and not (c.relrowsecurity and c.relforcerowsecurity)
    $$,
    'every AI memory table has RLS enabled and forced'
);
select policies_are('odl', 'cag_dependencies', array['tenant_isolation']);
select is_empty(
    $$
        select con.conname from pg_catalog.pg_constraint as con
        where con.conrelid in ('odl.ai_sessions'::regclass, 'odl.ai_messages'::regclass,
            'odl.cag_entries'::regclass, 'odl.cag_dependencies'::regclass)
            and con.contype = 'f'
            and (select a.attname from pg_catalog.pg_attribute as a
                where a.attrelid = con.conrelid and a.attnum = con.conkey[1]) <> 'tenant_id'
    $$,
    'every foreign key of AI memory leads with tenant_id: no reference crosses tenants'
);
select is(
    (select p.handler::text from odl.document_projectors as p where p.projector = 'cag_invalidation' and p.enabled),
    'odl.project_cag_invalidation(text,text,text,integer,jsonb,text[])',
    'the CAG projector is registered and enabled'
);
select throws_ok(
    $$select odl.odl_ai_open_session('01ARZ3NDEKTSV4RRFFQ69G5FAV')$$, 'ODC01', 'no tenant context is set',
    'opening a session needs a context'
);
select throws_ok(
    $$select * from odl.odl_cag_get('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'prompt_response', 't@1', 'm', 'p', null)$$,
    'ODC01', 'no tenant context is set',
    'a CAG lookup needs a context'
);
select is(
    odl.pointer_ancestors('/instances/3/id'), array['', '/instances', '/instances/3', '/instances/3/id'],
    'a pointer''s ancestors run from the root down to the pointer itself'
);

select * from finish();
rollback;
