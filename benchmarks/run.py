"""Run every benchmark in benchmarks/bench_*.py and rewrite RESULTS.md.

    make bench                                  # the usual way (scripts/bench)
    .venv/bin/python benchmarks/run.py          # against PGHOST/PGPORT, all
    .venv/bin/python benchmarks/run.py rls_overhead   # some; prints, keeps RESULTS.md
    ODL_BENCH_QUICK=1 scripts/bench documents   # a smoke run: few rounds; prints, keeps RESULTS.md

The server comes from the libpq environment and must hold a database
(PGDATABASE, default odl_bench) with odl-db deployed and no other session in
it. Each benchmark gets its own copy of that database, dropped afterwards, so
benchmarks never see each other's data. Only a run of every benchmark
rewrites RESULTS.md, so the file always comes from one run on one machine.

To add a benchmark, add benchmarks/bench_<name>.py with TITLE and
run(ctx: harness.Context) -> harness.Section (see harness.py).
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import psycopg
from psycopg import sql

from harness import Context, Section

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
TEMPLATE = os.environ.get("PGDATABASE", "odl_bench")
COMMAND = "make bench"


def discover(selected: list[str]) -> list[str]:
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    unknown = [s for s in selected if s not in names]
    if unknown:
        sys.exit(f"run.py: unknown benchmark(s) {', '.join(unknown)}; have {', '.join(names)}")
    return [n for n in names if not selected or n in selected]


def machine_facts() -> dict[str, str]:
    cpu = "?"
    memory = "?"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        memory = f"{kib / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        pass
    with psycopg.connect(dbname=TEMPLATE, user="postgres") as conn:
        version, buffers, fsync = conn.execute(
            "select current_setting('server_version'), current_setting('shared_buffers'),"
            " current_setting('fsync')"
        ).fetchone()
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=HERE, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "CPU": cpu,
        "memory": memory,
        "PostgreSQL": f"{version} (throwaway cluster: shared_buffers {buffers}, fsync {fsync})",
        "client": f"Python {platform.python_version()}, psycopg {psycopg.__version__} "
        f"({psycopg.pq.__impl__}), TCP to 127.0.0.1",
        "commit": commit,
    }


def fresh_database(name: str) -> str:
    dbname = f"bench_{name}"
    with psycopg.connect(dbname="postgres", user="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(dbname)))
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(dbname), sql.Identifier(TEMPLATE)
            )
        )
    return dbname


def drop_database(dbname: str) -> None:
    with psycopg.connect(dbname="postgres", user="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


def fmt(value: float) -> str:
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def render_section(title: str, section: Section, facts: dict[str, str], seconds: float) -> str:
    lines = [f"## {title}: {section.verdict}", ""]
    lines += ["**Compared.** " + section.compared, ""]
    lines += [f"**Reproduce.** `{COMMAND}` (writes this file; the benchmark alone: "
              f"`.venv/bin/python benchmarks/run.py {facts['name']}` against a deployed database).", ""]
    machine = "; ".join(f"{k} {v}" for k, v in facts.items() if k != "name")
    own = "; ".join(f"{k} {v}" for k, v in section.facts.items())
    lines += [f"**Machine.** {machine}.", ""]
    lines += [f"**Run.** {seconds:.0f} s for this benchmark" + (f"; {own}" if own else "") + ".", ""]
    lines += ["**Method.**", "", section.method, ""]
    lines += [
        f"| measurement | unit | {section.baseline_name} | {section.candidate_name} "
        "| ratio (95% CI) | goal | verdict |",
        "|---|---|--:|--:|--:|--:|---|",
    ]
    for row in section.rows:
        ci = (f" ({row.ratio_low:.3f}–{row.ratio_high:.3f})"
              if row.ratio_low is not None else "")
        goal = f"≤ {row.goal:.2f}" if row.goal is not None else "—"
        lines.append(
            f"| {row.label} | {row.unit} | {fmt(row.baseline)} | {fmt(row.candidate)} "
            f"| {row.ratio:.3f}{ci} | {goal} | {row.verdict} |"
        )
    lines += ["", section.notes, ""] if section.notes else [""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    started = time.time()
    names = discover(argv)
    # A smoke run (ODL_BENCH_QUICK=1, see bench_documents.py) never
    # replaces the results.
    full = not argv and os.environ.get("ODL_BENCH_QUICK") != "1"
    facts = machine_facts()
    sections: list[str] = []
    summary: list[str] = []
    failed = False
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        title = getattr(module, "TITLE", name)
        print(f"== {title} (bench_{name}.py)", file=sys.stderr, flush=True)
        dbname = fresh_database(name)
        bench_started = time.perf_counter()
        try:
            section = module.run(Context(dbname=dbname))
        except Exception:  # report it, run the others, fail at the end
            failed = True
            trace = traceback.format_exc()
            print(trace, file=sys.stderr)
            sections.append(f"## {title}: ERROR\n\n```\n{trace}```\n")
            summary.append(f"- {title}: ERROR")
            continue
        finally:
            drop_database(dbname)
        seconds = time.perf_counter() - bench_started
        sections.append(render_section(title, section, {"name": name, **facts}, seconds))
        summary.append(f"- [{title}](#{title.lower().replace(' ', '-')}-{section.verdict.lower()}): "
                       f"**{section.verdict}**")
        for row in section.rows:
            print(f"  {row.verdict:4}  {row.ratio:.3f}  {row.label}", file=sys.stderr)

    # scripts/bench passes its start time, so that the total includes the
    # cluster, the deploy and the install check before this script.
    wrapper_started = os.environ.get("ODL_BENCH_STARTED")
    total = time.time() - float(wrapper_started or started)
    total_label = f"Whole `{COMMAND}` run" if wrapper_started else "run.py alone"
    header = [
        "# Benchmark results",
        "",
        f"Written by `{COMMAND}` (scripts/bench → benchmarks/run.py) on {facts['date']}; "
        "do not edit by hand. Every number below comes from that one run, on one machine, "
        "with each baseline measured in the same run, interleaved with what it is "
        "compared against.",
        "",
        f"{total_label}: {total:.0f} s (throwaway cluster, deploy, load, measure). "
        f"Machine: {facts['nproc']} CPUs ({facts['CPU']}), {facts['memory']}, "
        f"PostgreSQL {facts['PostgreSQL'].split(' ')[0]}, commit {facts['commit']}.",
        "",
        *summary,
        "",
    ]
    document = "\n".join(header) + "\n" + "\n".join(sections)
    if full:
        RESULTS.write_text(document.rstrip() + "\n")
        print(f"wrote {RESULTS.relative_to(HERE.parent)} ({total:.0f} s in all)", file=sys.stderr)
    else:
        print(document)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
