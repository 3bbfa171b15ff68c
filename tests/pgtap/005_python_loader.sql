-- The PL/Python module store: what it holds, the invariants it keeps, and
-- that only the owner reaches it. (Reloading is covered by pytest.)
begin;
select plan(11);

select columns_are('odl', 'python_modules', array['module', 'source', 'sha256', 'installed_at']);
select col_is_pk('odl', 'python_modules', 'module', 'python_modules: primary key (module)');
select set_eq(
    $$select module from odl.python_modules$$,
    array[
        'odl_db', 'odl_db.canonical', 'odl_db.documents', 'odl_db.guards', 'odl_db.integrity', 'odl_db.jsonpatch',
        'odl_db.pieces', 'odl_db.sandbox', 'odl_db.ulid', 'odl_db.validation'
    ],
    'the package odl_db and its module canonical are installed'
);
select is_empty(
    $$
        select module from odl.python_modules
        where sha256 <> encode(sha256(convert_to(source, 'UTF8')), 'hex') or right(source, 1) <> E'\n'
    $$,
    'each stored hash describes its source, which ends with a newline as the file does'
);
select throws_ok(
    $$insert into odl.python_modules (module, source, sha256) values ('odl_db.forged', 'x = 1', repeat('0', 64))$$,
    '23514',
    'new row for relation "python_modules" violates check constraint "python_modules_sha256_matches"',
    'a hash that does not match the source is refused'
);
select throws_ok(
    $$
        insert into odl.python_modules (module, source, sha256)
        values ('os', 'x = 1', encode(sha256(convert_to('x = 1', 'UTF8')), 'hex'))
    $$,
    '23514',
    'new row for relation "python_modules" violates check constraint "python_modules_name_valid"',
    'only modules of the package odl_db are served (no shadowing of os)'
);

-- Installing an unchanged source changes nothing.

select lives_ok(
    $$
        do $do$
        declare
            current_source text := (select m.source from odl.python_modules as m where m.module = 'odl_db');
        begin
            call odl.python_install('odl_db', current_source);
        end
        $do$
    $$,
    'setup: reinstall odl_db unchanged'
);
select is(
    (select installed_at < now() from odl.python_modules where module = 'odl_db'),
    true,
    'an unchanged reinstall keeps the original row'
);

-- Only the owner (and so the deployer) reaches the loader.

select function_privs_are('odl', 'python_boot', array[]::name[], 'odl_app', array[]::text[]);
select function_privs_are('odl', 'python_install', array['text', 'text'], 'odl_admin', array[]::text[]);
select table_privs_are('odl', 'python_modules', 'odl_admin', array[]::text[]);

select * from finish();
rollback;
