-- Retiring a month of EPCIS events (change epcis_retention):
-- odl.log_retention() calls odl.epcis_retire_month() for each month of
-- odl.epcis_events it is about to detach and drop, in the same transaction
-- and under its lock timeout. The rows that describe the month's events
-- in the unpartitioned tables go first, so that nothing names an event
-- whose body is gone; the event ids stay, and a second capture of a
-- retired event is still refused (ODE03).

create or replace function odl.epcis_retire_month(range_start timestamptz, range_end timestamptz)
returns bigint
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    gone bigint := 0;
    n bigint;
begin
    delete from odl.trace_links as t using odl.epcis_event_ids as i
    where i.record_time >= range_start and i.record_time < range_end
        and t.tenant_id = i.tenant_id and t.event_id = i.event_id;
    get diagnostics n = row_count;
    gone := gone + n;
    delete from odl.epcis_corrective_events as c using odl.epcis_event_ids as i
    where i.record_time >= range_start and i.record_time < range_end
        and c.tenant_id = i.tenant_id and c.event_id = i.event_id;
    get diagnostics n = row_count;
    gone := gone + n;
    delete from odl.epcis_error_declarations as d using odl.epcis_event_ids as i
    where i.record_time >= range_start and i.record_time < range_end
        and d.tenant_id = i.tenant_id and d.event_id = i.event_id;
    get diagnostics n = row_count;
    gone := gone + n;
    delete from odl.epcis_event_biz_transactions as b using odl.epcis_event_ids as i
    where i.record_time >= range_start and i.record_time < range_end
        and b.tenant_id = i.tenant_id and b.event_id = i.event_id;
    get diagnostics n = row_count;
    gone := gone + n;
    delete from odl.epcis_event_epcs as x using odl.epcis_event_ids as i
    where i.record_time >= range_start and i.record_time < range_end
        and x.tenant_id = i.tenant_id and x.event_id = i.event_id;
    get diagnostics n = row_count;
    return gone + n;
end
$$;

revoke all on function odl.epcis_retire_month(timestamptz, timestamptz) from public;
comment on function odl.epcis_retire_month(timestamptz, timestamptz) is
'Deletes what describes the EPCIS events recorded in [range_start, range_end) outside their partition (EPCs, '
'business transactions, error declarations, corrective events, traceability links) before odl.log_retention() '
'drops the month; keeps their ids, so a retired event is still refused if captured again. Returns the rows deleted';
