-- ULIDs: format, order within a session, the encoded time, the odl.ulid
-- domain, and the carry and overflow of the per-millisecond counter.
begin;
select plan(22);

select has_function('odl', 'odl_ulid', array[]::name[]);
select function_returns('odl', 'odl_ulid', array[]::name[], 'text');
select volatility_is('odl', 'odl_ulid', array[]::name[], 'volatile');
select volatility_is('odl', 'odl_ulid_time', array['text'], 'immutable');

-- Format: upper-case Crockford base32, first character at most 7 (128 bits).

select matches(odl.odl_ulid(), '^[0-7][0-9A-HJKMNP-TV-Z]{25}$', 'a ULID is 26 Crockford base32 characters');
select lives_ok($$select odl.odl_ulid()::odl.ulid$$, 'a fresh ULID is a valid odl.ulid');

-- Order: many ULIDs in one statement share milliseconds, so this exercises
-- the per-session counter. Compare bytewise (collate "C"), as ULIDs sort.

select results_eq(
    $$
        with ids as (
            select n, odl.odl_ulid() collate "C" as id
            from pg_catalog.generate_series(1, 10000) as n
        ),
        steps as (
            select id, pg_catalog.lag(id) over (order by n) as previous
            from ids
        )
        select
            count(*)::int,
            count(distinct id)::int,
            (count(*) filter (where id <= previous))::int
        from steps
    $$,
    $$values (10000, 10000, 0)$$,
    '10,000 ULIDs from one statement are distinct and strictly increasing'
);

-- Time: the first 10 characters are Unix milliseconds.

select ok(
    abs(extract(epoch from odl.odl_ulid_time(odl.odl_ulid()) - pg_catalog.clock_timestamp())) < 1,
    'the time of a fresh ULID is within a second of clock_timestamp()'
);
select is(
    odl.odl_ulid_time('01ARYZ6S41TSV4RRFFQ69G5FAV'),
    pg_catalog.to_timestamp(1469918176.385),
    'odl_ulid_time() decodes the ULID spec example (1469918176385 ms)'
);
select is(
    odl.odl_ulid_time('01aryz6s41tsv4rrffq69g5fav'),
    pg_catalog.to_timestamp(1469918176.385),
    'odl_ulid_time() decodes lower case too, as the ULID spec allows'
);
select is(odl.odl_ulid_time(null), null, 'odl_ulid_time() is strict');

-- The domain odl.ulid.

select is(
    '01ARYZ6S41TSV4RRFFQ69G5FAV'::odl.ulid::text,
    '01ARYZ6S41TSV4RRFFQ69G5FAV',
    'odl.ulid accepts a valid ULID'
);
select lives_ok($$select '7ZZZZZZZZZZZZZZZZZZZZZZZZZ'::odl.ulid$$, 'odl.ulid accepts the largest ULID');
select throws_ok(
    $$select '01aryz6s41tsv4rrffq69g5fav'::odl.ulid$$,
    '23514',
    'value for domain odl.ulid violates check constraint "ulid_format"',
    'odl.ulid rejects lower case (stored ULIDs must sort bytewise)'
);
select throws_ok(
    $$select '01ARYZ6S41TSV4RRFFQ69G5FAI'::odl.ulid$$,
    '23514',
    'value for domain odl.ulid violates check constraint "ulid_format"',
    'odl.ulid rejects I, L, O and U, which Crockford base32 leaves out'
);
select throws_ok(
    $$select '8ZZZZZZZZZZZZZZZZZZZZZZZZZ'::odl.ulid$$,
    '23514',
    'value for domain odl.ulid violates check constraint "ulid_format"',
    'odl.ulid rejects a first character above 7 (more than 128 bits)'
);
select throws_ok(
    $$select '01ARYZ6S41TSV4RRFFQ69G5FA'::odl.ulid$$,
    '23514',
    'value for domain odl.ulid violates check constraint "ulid_format"',
    'odl.ulid rejects 25 characters'
);

-- The counter, made deterministic: GD['odl_ulid_last'] holds the session's
-- last ULID as (milliseconds, randomness). A last time in the future is what
-- a clock that stepped back looks like: the next ULID stays on that
-- millisecond and counts up. (The state lives as long as this session.)

create function pg_temp.set_ulid_state(ms bigint, randomness numeric) returns void
language plpython3u
as $py$
GD["odl_ulid_last"] = (ms, int(randomness))
$py$;
select pg_temp.set_ulid_state(281474976710000, 2::numeric ^ 40 - 1);
select is(
    odl.odl_ulid(),
    '7ZZZZZZZBG0000000100000000',
    'when the low 40 bits are exhausted, the counter carries into the high 40 bits'
);
select is(
    odl.odl_ulid(),
    '7ZZZZZZZBG0000000100000001',
    'the next ULID in the same millisecond is the previous one plus 1'
);
select is(
    odl.odl_ulid_time(odl.odl_ulid()),
    pg_catalog.to_timestamp(281474976710.000),
    'a ULID stays on the last millisecond when the clock is behind it'
);

select pg_temp.set_ulid_state(281474976710000, 2::numeric ^ 80 - 1);
select throws_ok(
    $$select odl.odl_ulid()$$,
    'ODU01',
    -- PL/Python names the exception class in every message it raises.
    'plpy.Error: ulid random component overflowed within one millisecond',
    'more than 2^80 ULIDs in one millisecond raise ODU01'
);

-- A ULID handed out inside a subtransaction that rolls back must not be
-- handed out again: the counter lives outside transactions.

select pg_temp.set_ulid_state(281474976710000, 0);
create function pg_temp.ulid_across_rollback() returns text[]
language plpgsql
as $$
declare
    lost text;
    next text;
begin
    begin
        lost := odl.odl_ulid();
        raise exception 'roll back';
    exception when raise_exception then
        null;
    end;
    next := odl.odl_ulid();
    return array[lost, next];
end
$$;
select ok(
    (select u[2] > u[1] from pg_temp.ulid_across_rollback() as u),
    'a ULID issued after a rolled-back subtransaction is greater than the one issued inside it'
);

select * from finish();
rollback;
