-- Deploy odl-db:python to pg
-- requires: extensions
-- requires: ownership

begin;

create table odl.python_modules (
    module text primary key,
    source text not null,
    sha256 text not null,
    installed_at timestamptz not null default now(),
    constraint python_modules_name_valid check (module ~ '^odl_db(\.[a-z_][a-z0-9_]*)*$'),
    constraint python_modules_sha256_matches check (
        sha256 = encode(sha256(convert_to(source, 'UTF8')), 'hex')
    )
);
revoke all on odl.python_modules from public;
comment on table odl.python_modules is
'Source of package odl_db (plpython/odl_db), as deployed; PL/Python functions import it from here';
comment on column odl.python_modules.sha256 is 'SHA-256 of the source, hex; equal to sha256sum of the file';
comment on constraint python_modules_name_valid on odl.python_modules is
'Only modules of the package odl_db are served';
comment on constraint python_modules_sha256_matches on odl.python_modules is
'The hash always describes the stored source';

call odl.adopt_objects();

commit;
