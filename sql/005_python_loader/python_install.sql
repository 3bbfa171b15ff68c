-- Sessions that compiled a PL/Python function keep it until its pg_proc row
-- changes. Installing a changed module therefore re-creates every PL/Python
-- function of odl_owner unchanged, so each session recompiles them and their
-- first call reloads the package through odl.python_boot().
create or replace procedure odl.python_install(module text, source text)
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    fn oid;
begin
    -- psql's backticks, which read the file, drop its final newline.
    if right(source, 1) <> E'\n' then
        source := source || E'\n';
    end if;

    if exists (
        select from odl.python_modules as m
        where m.module = python_install.module and m.source = python_install.source
    ) then
        return;
    end if;

    insert into odl.python_modules as m (module, source, sha256)
    values (
        python_install.module,
        python_install.source,
        encode(sha256(convert_to(python_install.source, 'UTF8')), 'hex')
    )
    on conflict on constraint python_modules_pkey
    do update set source = excluded.source, sha256 = excluded.sha256, installed_at = now();

    for fn in
        select p.oid
        from pg_proc as p
        where p.proowner = 'odl_owner'::regrole
            and p.prolang = (select oid from pg_language where lanname = 'plpython3u')
            and p.oid <> 'odl.python_boot()'::regprocedure
    loop
        execute pg_get_functiondef(fn);
    end loop;
end
$$;

revoke all on procedure odl.python_install(text, text) from public;
comment on procedure odl.python_install(text, text) is -- noqa: LT01
'Stores a module of package odl_db and makes every session reload the package';
