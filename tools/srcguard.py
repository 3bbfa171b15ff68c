"""Keeps sqitch honest about the sources that deploy scripts include.

sqitch hashes a deploy script, not the files it pulls in with \\ir or reads
with backticks, so an edited source would go unseen. srcguard closes the gap:

  check             every source (sql/, plpython/, schemas/, policy/) belongs to exactly one
                    code change, code
                    changes only include sources, and no source of a released
                    change differs from release.lock (the hashes at its tag)
  tag NAME NOTE     sqitch tag, then lock the sources of every change
  rework CHANGE NOTE
                    sqitch rework, then freeze the released deploy script
                    (deploy/CHANGE@TAG.sql) by inlining its sources, and make
                    revert/CHANGE.sql re-run it, which restores the old bodies
  db                compare a deployed database (libpq PG* variables) with the
                    sources: every PL/Python module and every function body

Run it from anywhere: paths are relative to the project's top directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
LOCK = "release.lock"

INCLUDE_SQL = re.compile(r"^\\ir \.\./(?P<path>\S+)\s*$")
# A file read into :source, then handed to the procedure that installs it.
INCLUDE_FILE = re.compile(r"^\\set source `cat (?P<path>\S+)`\s*$")
INSTALL_FILE = re.compile(
    r"^call odl\.((python_install|register_json_schema)\('[\w.]+', |load_access_policy\():'source'\);\s*$"
)
# Everything a code change's deploy script may hold besides its includes.
CODE_LINE = re.compile(
    r"^(--.*|begin;|commit;|call odl\.adopt_objects\(\);|\s*)$"
)
# Where sources live; each must be included by exactly one code change.
SOURCES = (("sql", "*.sql"), ("plpython", "*.py"), ("schemas", "*.json"), ("policy", "*.json"))
ROUTINE = re.compile(
    r"create or replace (?:function|procedure) (?P<schema>odl|public)\.(?P<name>\w+)\s*\("
    r".*?\bas (?P<tag>\$\w*\$)\n?(?P<body>.*?)(?P=tag)",
    re.S,
)


@dataclass
class Change:
    name: str
    line: int  # position in sqitch.plan
    includes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    changes: list[Change]  # latest instance of each change, plan order
    tags: dict[str, int]  # tag name -> line in sqitch.plan
    last_tag: str | None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_plan(top: Path = TOP) -> Plan:
    latest: dict[str, int] = {}
    tags: dict[str, int] = {}
    last_tag = None
    for number, raw in enumerate((top / "sqitch.plan").read_text().splitlines()):
        line = raw.strip()
        if not line or line.startswith(("%", "#")):
            continue
        if line.startswith("@"):
            last_tag = line.split()[0][1:]
            tags[last_tag] = number
        else:
            latest[line.split()[0]] = number
    changes = [
        Change(name, number, includes_of(top / "deploy" / f"{name}.sql"))
        for name, number in sorted(latest.items(), key=lambda item: item[1])
    ]
    return Plan(changes, tags, last_tag)


def includes_of(script: Path) -> list[str]:
    found = []
    for line in script.read_text().splitlines():
        match = INCLUDE_SQL.match(line) or INCLUDE_FILE.match(line)
        if match:
            found.append(match["path"])
    return found


def read_lock(top: Path = TOP) -> dict[str, tuple[str, str, str]]:
    """path -> (tag, change, sha256) as recorded when the tag was made."""
    lock = {}
    path = top / LOCK
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                tag, change, digest, source = line.split()
                lock[source] = (tag, change, digest)
    return lock


def check(top: Path = TOP) -> list[str]:
    """Problems with the tree, as messages; empty when all is well."""
    plan = read_plan(top)
    problems = []
    owner: dict[str, str] = {}
    for change in plan.changes:
        script = top / "deploy" / f"{change.name}.sql"
        if not change.includes:
            continue
        lines = script.read_text().splitlines()
        for number, line in enumerate(lines):
            allowed = (
                CODE_LINE.match(line)
                or INCLUDE_SQL.match(line)
                or INCLUDE_FILE.match(line)
                or INSTALL_FILE.match(line)
            )
            if not allowed:
                problems.append(
                    f"deploy/{change.name}.sql:{number + 1}: a change that includes sources "
                    "holds nothing else, so it can be re-run and reworked"
                )
        for source in change.includes:
            if not (top / source).is_file():
                problems.append(f"deploy/{change.name}.sql includes missing {source}")
            elif source in owner:
                problems.append(f"{source} is included by both {owner[source]} and {change.name}")
            else:
                owner[source] = change.name

    for source in sorted(
        str(p.relative_to(top))
        for folder, pattern in SOURCES
        for p in (top / folder).rglob(pattern)
    ):
        if source not in owner:
            problems.append(f"{source} is not included by any deploy script")

    lines = {change.name: change.line for change in plan.changes}
    for source, (tag, change, digest) in read_lock(top).items():
        if change not in lines or tag not in plan.tags:
            continue
        reworked = lines[change] > plan.tags[tag]
        if not reworked and (not (top / source).is_file() or sha256(top / source) != digest):
            problems.append(
                f"{source} changed, but change {change} was released in @{tag}: "
                f"run tools/srcguard rework {change} before editing it"
            )
    return problems


def sqitch(*args: str, top: Path = TOP) -> None:
    env = dict(os.environ)
    env.setdefault("SQITCH_FULLNAME", "odl-db")
    env.setdefault("SQITCH_EMAIL", "dev@odl-db.invalid")
    subprocess.run(["sqitch", *args], cwd=top, env=env, check=True)


def tag(name: str, note: str, top: Path = TOP) -> None:
    problems = check(top)
    if problems:
        raise SystemExit("\n".join(problems))
    sqitch("tag", name, "-n", note, top=top)
    lock = read_lock(top)
    for change in read_plan(top).changes:
        for source in change.includes:
            lock[source] = (name, change.name, sha256(top / source))
    lines = ["# path -> hash at the release that last shipped it; see tools/srcguard.py"]
    lines += [f"{t} {c} {d} {s}" for s, (t, c, d) in sorted(lock.items())]
    (top / LOCK).write_text("\n".join(lines) + "\n")


def rework(change: str, note: str, top: Path = TOP) -> None:
    plan = read_plan(top)
    current = next((c for c in plan.changes if c.name == change), None)
    if current is None or not current.includes:
        raise SystemExit(f"{change} is not a change that includes sources")
    released = [t for t, line in plan.tags.items() if line > current.line]
    if not released:
        raise SystemExit(f"{change} has not been released; edit its sources directly")
    problems = [p for p in check(top) if "changed, but change" in p]
    if problems:
        raise SystemExit(
            "\n".join(problems) + "\nrework first, then edit: restore the released sources"
        )
    before = set((top / "deploy").glob(f"{change}@*.sql"))
    sqitch("rework", change, "-n", note, top=top)
    # sqitch names the frozen script after the plan's latest tag; the
    # sources in the tree are those of every release since the change.
    (frozen,) = set((top / "deploy").glob(f"{change}@*.sql")) - before
    tag_name = frozen.stem.split("@", 1)[1]
    frozen.write_text(
        f"-- Frozen by tools/srcguard rework: {change} as released in @{tag_name}.\n"
        + inline_sources(frozen.read_text(), tag_name, top)
    )
    # sqitch refuses to deploy a script identical to one a database already
    # ran (its hash is taken), which a rework that only edits sources is.
    deploy = top / "deploy" / f"{change}.sql"
    first, _, rest = deploy.read_text().partition("\n")
    deploy.write_text(f"{first}\n-- Reworked after @{tag_name}: {note}\n{rest}")
    (top / "revert" / f"{change}.sql").write_text(
        f"-- Revert odl-db:{change} from pg\n"
        f"-- Restores the definitions released in @{tag_name}. Drop here, first,\n"
        "-- anything the new version added.\n\n"
        f"\\ir ../deploy/{change}@{tag_name}.sql\n"
    )


def inline_sources(script: str, tag_name: str, top: Path = TOP) -> str:
    """A deploy script with every included source written out in place."""
    out = []
    quote = "$odl_source$"
    source = None
    for line in script.splitlines():
        sql, file, install = INCLUDE_SQL.match(line), INCLUDE_FILE.match(line), INSTALL_FILE.match(line)
        if sql:
            out.append(f"-- {sql['path']} as released in @{tag_name}")
            out.append((top / sql["path"]).read_text().rstrip("\n"))
        elif file:
            out.append(f"-- {file['path']} as released in @{tag_name}")
            source = (top / file["path"]).read_text()
        elif install:
            assert source is not None and quote not in source
            out.append(line.replace(":'source'", quote + source + quote))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def deployed_differences(conn, top: Path = TOP) -> list[str]:
    """How a deployed database differs from the sources; empty when equal."""
    problems = []
    with conn.cursor() as cur:
        cur.execute("select module, source from odl.python_modules")
        deployed = dict(cur.fetchall())
        for path in sorted((top / "plpython").rglob("*.py")):
            parts = path.relative_to(top / "plpython").with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if deployed.pop(module, None) != path.read_text():
                problems.append(f"module {module} differs from {path.relative_to(top)}")
        problems += [f"module {m} has no source file" for m in deployed]

        # The audit ledger's routines belong to odl_ledger and odl_signer.
        cur.execute(
            "select p.pronamespace::regnamespace::text || '.' || p.proname, p.prosrc"
            " from pg_proc as p inner join pg_roles as r on p.proowner = r.oid"
            " where r.rolname in ('odl_owner', 'odl_ledger', 'odl_signer')"
        )
        # Overloads share a name: each source body must be one of the name's.
        bodies: dict[str, set[str]] = {}
        for name, body in cur.fetchall():
            bodies.setdefault(name, set()).add(body)
        expected: dict[str, list[tuple[str, Path]]] = {}
        for path in sorted((top / "sql").rglob("*.sql")):
            for match in ROUTINE.finditer(path.read_text()):
                expected.setdefault(f"{match['schema']}.{match['name']}", []).append((match["body"], path))
        # A run-once change may redefine a routine of a released code change
        # that precedes it (ledger_v2 does adopt_objects); its body wins.
        plan = read_plan(top)
        lines = {source: change.line for change in plan.changes for source in change.includes}
        for change in plan.changes:
            if change.includes:
                continue
            script = top / "deploy" / f"{change.name}.sql"
            for match in ROUTINE.finditer(script.read_text()):
                name = f"{match['schema']}.{match['name']}"
                if name in expected and all(
                    lines.get(str(path.relative_to(top)), 0) < change.line for _, path in expected[name]
                ):
                    expected[name] = [(match["body"], script)]
        for name, wanted in sorted(expected.items()):
            for body, path in wanted:
                if name not in bodies:
                    problems.append(f"{name} from {path.relative_to(top)} is not deployed")
                elif not bodies[name] & {body, "\n" + body}:
                    problems.append(f"{name} differs from {path.relative_to(top)}")
    return problems


def main(argv: list[str]) -> int:
    command, *args = argv or ["check"]
    if command == "check":
        problems = check()
    elif command == "tag" and len(args) == 2:
        tag(*args)
        problems = []
    elif command == "rework" and len(args) == 2:
        rework(*args)
        problems = []
    elif command == "db":
        import psycopg

        with psycopg.connect() as conn:
            problems = deployed_differences(conn)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for problem in problems:
        print(f"srcguard: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
