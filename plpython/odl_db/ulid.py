"""ULIDs: 48 bits of Unix milliseconds, then 80 random bits, written as 26
characters of Crockford base32, so that text order is time order.

Within one millisecond (or when the clock steps back) a session counts up
from its last ULID instead of drawing new randomness, which keeps its ULIDs
strictly increasing. The state lives outside transactions, so a rolled-back
transaction never rewinds it.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_BITS = 80

State = tuple[int, int]  # (milliseconds, randomness) of the last ULID


def next_state(last: State | None, now_ms: int, fresh_randomness: int) -> State:
    """The state of the next ULID after `last`, at clock time `now_ms`."""
    if last is not None and now_ms <= last[0]:
        ms, randomness = last[0], last[1] + 1
        if randomness >> RANDOM_BITS:
            raise OverflowError("ulid random component overflowed within one millisecond")
        return ms, randomness
    return now_ms, fresh_randomness


def encode(state: State) -> str:
    ms, randomness = state
    value = (ms << RANDOM_BITS) | randomness
    return "".join(ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))
