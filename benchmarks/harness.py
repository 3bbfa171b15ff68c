"""What every benchmark module shares: the context it runs in, the shape of
the report it hands back, and the statistics behind a PASS or a MISS.

A benchmark module is `benchmarks/bench_<name>.py` with

    TITLE = "Short title"

    def run(ctx: Context) -> Section: ...

`run.py` gives each module a fresh copy of the deployed database (see
`Context.dbname`) and turns the returned Section into one section of
RESULTS.md.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg


@dataclass
class Context:
    """Where a benchmark runs. Host, port and password come from the libpq
    environment (PGHOST, PGPORT), as scripts/bench sets them."""

    dbname: str
    seed: int = 20261125

    def connect(self, user: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(dbname=self.dbname, user=user, **kwargs)

    def log(self, message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    """One compared measurement. `goal` is the highest acceptable
    candidate/baseline ratio; rows without a goal are informational."""

    label: str
    unit: str
    baseline: float
    candidate: float
    ratio: float
    ratio_low: float | None = None
    ratio_high: float | None = None
    goal: float | None = None

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return "info"
        return "PASS" if self.ratio <= self.goal else "MISS"


@dataclass
class Section:
    """A benchmark's report; run.py adds the title, the command that
    reproduces it, the machine facts and the verdict."""

    compared: str          # markdown: what is compared with what
    method: str            # markdown: data, what is timed, how it is interleaved
    rows: list[Row]
    notes: str = ""        # markdown after the table: plans, checks, surprises
    facts: dict[str, str] = field(default_factory=dict)  # e.g. load time
    baseline_name: str = "baseline"   # table headings
    candidate_name: str = "candidate"

    @property
    def verdict(self) -> str:
        verdicts = [row.verdict for row in self.rows if row.goal is not None]
        if not verdicts:
            return "info"
        return "MISS" if "MISS" in verdicts else "PASS"


class Stopwatch:
    """`with Stopwatch() as sw: ...` then `sw.seconds`."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start


@contextmanager
def one_cpu(*conns: psycopg.Connection) -> Iterator[str]:
    """Pin this client and the connections' server backends to one CPU for
    the duration; yields how, for the report.

    Without it, on a small VM each connection's round trip depends on
    whether the scheduler put its backend on the client's CPU (a cheap
    hand-off) or on the other one (a cross-CPU wake-up): two connections of
    one run measured `select 1` at 27 and 77 µs. That is a property of the
    connection, not of the query, and it swamps what is being compared. On one
    CPU every round trip is the same cheap hand-off.
    """
    own = os.sched_getaffinity(0)
    cpu = max(own)
    pids = [conn.info.backend_pid for conn in conns]
    saved = {}
    try:
        for pid in pids:
            saved[pid] = os.sched_getaffinity(pid)
            os.sched_setaffinity(pid, {cpu})
    except OSError as error:  # the backends belong to another user
        for pid, cpus in saved.items():
            os.sched_setaffinity(pid, cpus)
        yield f"not pinned ({error.strerror}): round trips vary by connection"
        return
    os.sched_setaffinity(0, {cpu})
    try:
        yield f"client and backends pinned to CPU {cpu}"
    finally:
        os.sched_setaffinity(0, own)
        for pid, cpus in saved.items():
            try:
                os.sched_setaffinity(pid, cpus)
            except ProcessLookupError:
                pass


def paired_ratio(
    baseline: list[float], candidate: list[float], seed: int, resamples: int = 2000
) -> tuple[float, float, float]:
    """Median of the per-round ratios candidate[i] / baseline[i], with a 95%
    percentile-bootstrap interval. Pairing cancels what a round shares (the
    tenant, a busy moment on the machine)."""
    ratios = [c / b for b, c in zip(baseline, candidate, strict=True)]
    rng = random.Random(seed)
    medians = sorted(
        statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples)
    )
    return (
        statistics.median(ratios),
        medians[int(0.025 * resamples)],
        medians[int(0.975 * resamples) - 1],
    )


def compare(
    label: str,
    unit: str,
    baseline: list[float],
    candidate: list[float],
    goal: float | None,
    seed: int,
) -> Row:
    ratio, low, high = paired_ratio(baseline, candidate, seed)
    return Row(
        label=label,
        unit=unit,
        baseline=statistics.median(baseline),
        candidate=statistics.median(candidate),
        ratio=ratio,
        ratio_low=low,
        ratio_high=high,
        goal=goal,
    )
