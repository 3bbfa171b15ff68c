"""ULIDs: format, order, embedded time, and uniqueness under concurrency."""

import re
import threading

import psycopg
import pytest
from hypothesis import given, settings, strategies as st

from odl_db import ulid

ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def encode(value: int, length: int) -> str:
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(length)))


def decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + ALPHABET.index(char)
    return value


def test_ulids_are_26_crockford_characters(conn):
    ulids = [r[0] for r in conn.execute("select odl.odl_ulid() from generate_series(1, 2000)")]
    assert all(ULID.match(u) for u in ulids)


def test_ulids_of_a_session_strictly_increase_even_within_a_millisecond(conn):
    ulids = [r[0] for r in conn.execute("select odl.odl_ulid() from generate_series(1, 20000)")]
    ulids += [conn.execute("select odl.odl_ulid()").fetchone()[0] for _ in range(200)]
    assert ulids == sorted(set(ulids))
    # Many share a millisecond, so the increment path was exercised.
    assert len({u[:10] for u in ulids}) < len(ulids) / 2


def test_ulid_time_is_the_creation_time(conn):
    before = conn.execute("select clock_timestamp()").fetchone()[0]
    ulid = conn.execute("select odl.odl_ulid()").fetchone()[0]
    after = conn.execute("select clock_timestamp()").fetchone()[0]
    decoded = conn.execute("select odl.odl_ulid_time(%s)", (ulid,)).fetchone()[0]
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= decoded <= after
    assert decode(ulid[:10]) == int(decoded.timestamp() * 1000 + 0.5)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=253402300799999), st.integers(min_value=0, max_value=2**80 - 1))
# Python dates end in 9999, before the 48-bit ULID clock does.
def test_ulid_time_decodes_any_timestamp(dbname, ms, randomness):
    from conftest import server_conninfo

    text = encode(ms, 10) + encode(randomness, 16)
    with psycopg.connect(server_conninfo(dbname=dbname)) as conn:
        decoded = conn.execute("select odl.odl_ulid_time(%s)", (text,)).fetchone()[0]
        is_ulid = conn.execute("select %s::odl.ulid is not null", (text,)).fetchone()[0]
    assert is_ulid
    assert round(decoded.timestamp() * 1000) == ms


def test_next_ulid_in_the_same_millisecond_counts_up():
    assert ulid.next_state((1000, 7), 1000, fresh_randomness=3) == (1000, 8)


def test_a_clock_that_steps_back_keeps_the_last_millisecond():
    assert ulid.next_state((1000, 7), 990, fresh_randomness=3) == (1000, 8)


def test_a_new_millisecond_draws_fresh_randomness():
    assert ulid.next_state((1000, 7), 1001, fresh_randomness=3) == (1001, 3)


def test_exhausted_millisecond_is_refused():
    with pytest.raises(OverflowError):
        ulid.next_state((1000, 2**80 - 1), 1000, fresh_randomness=3)


def test_encoding_matches_the_ulid_spec_example():
    # The ULID specification's example: 1469918176385 ms.
    text = ulid.encode((1469918176385, decode("TSV4RRFFQ69G5FAV")))
    assert text == "01ARYZ6S41TSV4RRFFQ69G5FAV"
    assert ulid.encode((2**48 - 1, 2**80 - 1)) == "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"


def test_a_ulid_issued_in_a_rolled_back_transaction_is_never_reissued(conn):
    conn.execute("savepoint s")
    lost = conn.execute("select odl.odl_ulid() from generate_series(1, 50)").fetchall()[-1][0]
    conn.execute("rollback to savepoint s")
    assert conn.execute("select odl.odl_ulid()").fetchone()[0] > lost


def test_ulids_are_unique_across_concurrent_sessions(connect):
    per_session = 5000
    results: dict[int, list[str]] = {}
    connections = [connect(autocommit=True) for _ in range(8)]
    barrier = threading.Barrier(len(connections))

    def generate(index: int, conn: psycopg.Connection) -> None:
        barrier.wait()
        results[index] = [
            r[0] for r in conn.execute(
                "select odl.odl_ulid() from generate_series(1, %s)", (per_session,)
            )
        ]

    threads = [threading.Thread(target=generate, args=item) for item in enumerate(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [u for ulids in results.values() for u in ulids]
    assert len(everything) == 8 * per_session
    assert len(set(everything)) == len(everything)
    assert all(ulids == sorted(ulids) for ulids in results.values())
