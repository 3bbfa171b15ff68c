-- ULIDs come from plpython/odl_db/ulid.py. The session's last ULID is kept
-- in GD, outside transactions: a setting would rewind when a transaction
-- rolls back and hand out the same ULID twice.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODU01', 'ulid_overflow', 'More than 2^80 ULIDs were asked for within one millisecond')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.odl_ulid()
returns text
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
import os
import time

if "ulid" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import ulid
    SD["ulid"] = ulid
try:
    state = SD["ulid"].next_state(
        GD.get("odl_ulid_last"),
        time.time_ns() // 1_000_000,
        int.from_bytes(os.urandom(10), "big"),
    )
except OverflowError as error:
    plpy.error(str(error), hint="More than 2^80 ULIDs were requested in a single millisecond.", sqlstate="ODU01")
GD["odl_ulid_last"] = state
return SD["ulid"].encode(state)
$$;

revoke all on function odl.odl_ulid() from public;
grant execute on function odl.odl_ulid() to odl_app, odl_admin;
comment on function odl.odl_ulid() is
'New ULID (26 characters, Crockford base32); strictly increasing within a session';

create or replace function odl.odl_ulid_time(ulid text)
returns timestamptz
language plpgsql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    ms numeric := 0;
begin
    if ulid !~* '^[0-7][0-9A-HJKMNP-TV-Z]{25}$' then
        raise exception using
            errcode = '22P02',
            message = 'invalid ULID',
            detail = format('%L is not 26 characters of Crockford base32', ulid);
    end if;
    for i in 1..10 loop
        ms := ms * 32 + strpos('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(upper(ulid), i, 1)) - 1;
    end loop;
    return to_timestamp(ms / 1000);
end
$$;

revoke all on function odl.odl_ulid_time(text) from public;
grant execute on function odl.odl_ulid_time(text) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_ulid_time(text) is
'The creation time encoded in a ULID, to the millisecond';
