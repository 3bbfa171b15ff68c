-- Purging the CAG store. An expired or invalidated entry is already a miss
-- (odl_cag_get); purging only frees its row and its dependencies, a batch
-- at a time so that a scheduled run never holds many locks or writes a
-- long transaction. Entries being stored again right now (odl_cag_put
-- holds their row) are skipped, and an entry stored again before the
-- delete reaches it is valid and stays.
--
-- No index serves the purge: one on expires_at or invalidated_at would
-- make every invalidation by a patch a non-HOT update, on the write path,
-- to save a sequential scan of the store on a scheduled path.

create or replace function odl.cag_purge(batch_limit integer default 10000)
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    purged integer;
begin
    if batch_limit is null or batch_limit not between 1 and 1000000 then
        raise exception using
            errcode = '22023',
            message = 'a purge batch holds 1 to 1,000,000 entries',
            detail = format('batch_limit %s', coalesce(batch_limit::text, 'null'));
    end if;
    with doomed as (
        select e.tenant_id, e.cache_key
        from odl.cag_entries as e
        where e.invalidated_at is not null or e.expires_at <= now()
        limit batch_limit
        for update skip locked
    )
    delete from odl.cag_entries as e
    using doomed as d
    where e.tenant_id = d.tenant_id and e.cache_key = d.cache_key
        and (e.invalidated_at is not null or e.expires_at <= now());
    get diagnostics purged = row_count;
    return purged;
end
$$;

revoke all on function odl.cag_purge(integer) from public;
comment on function odl.cag_purge(integer) is
'Deletes up to batch_limit expired or invalidated CAG entries (of every tenant) with their dependencies; returns '
'how many. A scheduled job calls it, as a superuser, in its own transactions until it returns less than the limit';
