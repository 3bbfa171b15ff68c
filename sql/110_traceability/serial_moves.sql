-- Each serial a stock move names, keyed by the serial (odl.stock_move_serials),
-- written with the move: a serial's history reads its moves from a btree.

create or replace function odl.stock_moves_index_serials()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    insert into odl.stock_move_serials (tenant_id, component_ref, serial_no, moved_at, move_id)
    select new.tenant_id, new.component_ref, s.serial_no, new.moved_at, new.move_id
    from unnest(new.serials) as s (serial_no);
    return null;
end
$$;

revoke all on function odl.stock_moves_index_serials() from public;
comment on function odl.stock_moves_index_serials() is
'Trigger: records each serial of a new stock move in odl.stock_move_serials';

create or replace trigger stock_moves_index_serials
after insert on odl.stock_moves
for each row when (cardinality(new.serials) > 0) execute function odl.stock_moves_index_serials();
