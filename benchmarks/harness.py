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

import random
import statistics
import sys
import time
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
