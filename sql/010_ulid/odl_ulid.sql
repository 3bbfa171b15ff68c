-- ULID: 48-bit Unix time in milliseconds, then 80 random bits, in Crockford
-- base32 (26 characters), so text order is time order. Within one
-- millisecond a session increments the random part instead of drawing a new
-- one, which keeps its ULIDs strictly increasing. The session's last ULID
-- lives in the setting odl.ulid_last as "ms:high40:low40".

insert into odl.error_codes (sqlstate, name, meaning) values
('ODU01', 'ulid_overflow', 'More than 2^80 ULIDs were asked for within one millisecond')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;
create or replace function odl.odl_ulid()
returns text
language plpgsql
volatile
parallel unsafe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    half_range constant bigint := 1099511627776;  -- 2^40
    now_ms bigint := floor(extract(epoch from clock_timestamp()) * 1000)::bigint;
    last_state text := current_setting('odl.ulid_last', true);
    last_ms bigint;
    high bigint;
    low bigint;
    random_bytes bytea;
    result text := '';
begin
    if last_state <> '' then
        last_ms := split_part(last_state, ':', 1)::bigint;
    end if;

    if now_ms <= last_ms then
        -- Same millisecond, or the clock stepped back: stay on the last
        -- timestamp and count up.
        now_ms := last_ms;
        high := split_part(last_state, ':', 2)::bigint;
        low := split_part(last_state, ':', 3)::bigint + 1;
        if low = half_range then
            low := 0;
            high := high + 1;
        end if;
        if high = half_range then
            raise exception using
                errcode = 'ODU01',
                message = 'ulid random component overflowed within one millisecond',
                hint = 'More than 2^80 ULIDs were requested in a single millisecond.';
        end if;
    else
        -- Bytes 1-5 and 11-15 of a version 4 UUID are fully random.
        random_bytes := uuid_send(gen_random_uuid());
        high := ('x' || encode(substring(random_bytes from 1 for 5), 'hex'))::bit(40)::bigint;
        low := ('x' || encode(substring(random_bytes from 11 for 5), 'hex'))::bit(40)::bigint;
    end if;

    for i in reverse 9..0 loop
        result := result || substr(alphabet, ((now_ms >> (5 * i)) & 31)::int + 1, 1);
    end loop;
    for i in reverse 7..0 loop
        result := result || substr(alphabet, ((high >> (5 * i)) & 31)::int + 1, 1);
    end loop;
    for i in reverse 7..0 loop
        result := result || substr(alphabet, ((low >> (5 * i)) & 31)::int + 1, 1);
    end loop;

    perform set_config('odl.ulid_last', format('%s:%s:%s', now_ms, high, low), false);
    return result;
end
$$;

revoke all on function odl.odl_ulid() from public;
grant execute on function odl.odl_ulid() to odl_app, odl_admin;
comment on function odl.odl_ulid() is
'New ULID (26 characters, Crockford base32); strictly increasing within a session';

create or replace function odl.odl_ulid_time(ulid text)
returns timestamptz
language sql
immutable
strict
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    select to_timestamp(
        sum(
            (strpos('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(upper(ulid), i, 1)) - 1)::numeric
            * 32::numeric ^ (10 - i)
        ) / 1000
    )
    from generate_series(1, 10) as i
$$;

revoke all on function odl.odl_ulid_time(text) from public;
grant execute on function odl.odl_ulid_time(text) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_ulid_time(text) is
'The creation time encoded in a ULID, to the millisecond';
