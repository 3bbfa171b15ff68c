"""Audit ledger: what the hash chain costs writers, and how fast it verifies.

Two comparisons, each baseline measured in the same run, interleaved:

1. Write throughput. 4 pgbench clients as odl_app, each transaction
   `odl_set_context()` plus one `odl_audit_log()`, against the same
   transaction with an equivalent unaudited append: a definer function
   owned by odl_owner that checks the context, makes the same ULID and
   payload text and inserts the same row (constant hashes) into a table of
   the same shape, partitioning, key and forced RLS, without the chain head,
   the hashes, the signature and the NOTIFY. Once with all 4 clients on one
   tenant (they serialize on its chain head) and once with one tenant each.
2. Verification. `odl_audit_verify()` of a chain of 1,000,000 events
   against `sha256()` over the very bytes it hashes (prev_hash || canonical
   event), materialized in a table.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import shutil
import struct
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

from harness import Context, Section, Stopwatch, compare

TITLE = "Audit ledger"

CLIENTS = 4
WRITE_SECONDS = 3        # per pgbench run
WRITE_ROUNDS = 6         # each: every side in both configurations, shuffled
WRITE_GOALS = {"one tenant": 0.70, "four tenants": 0.85}  # audited / unaudited throughput

EVENTS = 1_000_000
VERIFY_ROUNDS = 5
VERIFY_GOAL = 2.0        # verification / sha256 over the same bytes

PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

BASELINE_DDL = [
    "create schema bench",
    "grant usage on schema bench to odl_app, odl_owner",
    """
    create table bench.plain_events (like odl.audit_events including defaults including constraints)
    partition by range (created_at)
    """,
    "alter table bench.plain_events add primary key (tenant_id, seq, created_at)",
    """
    create table bench.plain_events_now partition of bench.plain_events
    for values from (now() - interval '1 month') to (now() + interval '1 month')
    """,
    "create table bench.plain_events_default partition of bench.plain_events default",
    "create sequence bench.plain_seq",
    "alter table bench.plain_events enable row level security",
    "alter table bench.plain_events force row level security",
    """
    create policy tenant_isolation on bench.plain_events
    using (tenant_id = (select c.tenant_id from odl.current_context as c))
    with check (tenant_id = (select c.tenant_id from odl.current_context as c))
    """,
    # The unaudited twin of odl_audit_log(): the same context check, ULID,
    # payload text and row, minus the chain.
    """
    create function bench.plain_log(action text, payload jsonb)
    returns bigint
    language plpgsql
    volatile
    security definer
    set search_path = pg_catalog, odl, pg_temp
    as $$
    declare
        context record;
        payload_text text := coalesce(payload, '{}')::text;
        new_seq bigint := nextval('bench.plain_seq');
    begin
        select c.tenant_id, c.user_id into context from odl.current_context as c;
        if context.tenant_id is null or context.user_id is null then
            raise exception using errcode = 'ODC01', message = 'no tenant context is set';
        end if;
        insert into bench.plain_events (
            tenant_id, seq, created_at, event_id, project_id, doc_id, actor_id, action, payload,
            prev_hash, hash, key_id, signature
        )
        values (
            context.tenant_id, new_seq, clock_timestamp(), odl.odl_ulid(), null, null, context.user_id,
            'app.' || action, payload_text::json,
            '\\x0000000000000000000000000000000000000000000000000000000000000000',
            '\\x0000000000000000000000000000000000000000000000000000000000000000', 1,
            '\\x0000000000000000000000000000000000000000000000000000000000000000'
        );
        return new_seq;
    end
    $$
    """,
    # The same with the audit's NOTIFY, to tell the chain's cost from NOTIFY's.
    """
    create function bench.plain_log_notify(action text, payload jsonb)
    returns bigint
    language plpgsql
    volatile
    security definer
    set search_path = pg_catalog, odl, pg_temp
    as $$
    declare
        new_seq bigint := bench.plain_log(action, payload);
    begin
        perform pg_notify(
            'odl_audit', json_build_object('tenant_id', (select c.tenant_id from odl.current_context as c), 'seq', new_seq)::text
        );
        return new_seq;
    end
    $$
    """,
    "alter table bench.plain_events owner to odl_owner",
    "alter sequence bench.plain_seq owner to odl_owner",
    "alter function bench.plain_log(text, jsonb) owner to odl_owner",
    "alter function bench.plain_log_notify(text, jsonb) owner to odl_owner",
    "grant execute on function bench.plain_log(text, jsonb), bench.plain_log_notify(text, jsonb) to odl_app",
    "create table bench.writers (client integer primary key, tenant_id text, user_id text)",
    "grant select on bench.writers to odl_app",
]

PAYLOAD = '{"tool": "string-sizer", "input_hash": "sha256:%s", "ms": 412}'

SCRIPT = """\\set w (:client_id % {tenants})
select odl.odl_set_context(w.tenant_id, w.user_id), {call}('tool_call', '{payload}')
from bench.writers as w where w.client = :w;
"""

CALLS = {
    "audited": "odl.odl_audit_log",
    "unaudited": "bench.plain_log",
    "unaudited + NOTIFY": "bench.plain_log_notify",
}


def _pgbench() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)
    path = shutil.which("pgbench") or (str(found[0]) if found else None)
    if path is None:
        raise RuntimeError("pgbench not found (it comes with the postgresql-NN package)")
    return path


def _new_tenants(conn: psycopg.Connection, count: int) -> list[tuple[str, str]]:
    conn.execute("set role odl_admin")
    made = []
    for i in range(count):
        tenant = conn.execute("select odl.odl_create_tenant(%s, 'EU')", (f"Audit bench {i}",)).fetchone()[0]
        user = conn.execute(
            "select odl.odl_create_user(%s, %s, 'engineer')", (tenant, f"writer{i}@bench.example")
        ).fetchone()[0]
        made.append((tenant, user))
    conn.execute("reset role")
    return made


def _chain_tenant(conn: psycopg.Connection) -> tuple[str, str]:
    """A tenant and user made by the superuser's inserts, not by
    odl_create_tenant() and odl_create_user(), which append tenant.created
    and user.created: _load_chain() starts the tenant's chain at seq 1."""
    tenant, user = conn.execute("select odl.odl_ulid(), odl.odl_ulid()").fetchone()
    conn.execute("insert into odl.tenants (tenant_id, name, region) values (%s, 'Audit bench chain', 'EU')", (tenant,))
    conn.execute(
        "insert into odl.users (tenant_id, user_id, email, role) values (%s, %s, 'chain@bench.example', 'engineer')",
        (tenant, user),
    )
    return tenant, user


def _write_rounds(ctx: Context, rng: random.Random):
    """Seconds per transaction, by (configuration, side), one per round."""
    pgbench = _pgbench()
    payload = PAYLOAD % hashlib.sha256(b"bench").hexdigest()
    times: dict[tuple[str, str], list[float]] = {}
    runs = [(config, side) for config in WRITE_GOALS for side in CALLS]
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {}
        for config in WRITE_GOALS:
            for side, call in CALLS.items():
                path = Path(tmp) / f"{config}_{side}.sql".replace(" ", "_").replace("+", "")
                path.write_text(SCRIPT.format(tenants=1 if config == "one tenant" else CLIENTS, call=call,
                                              payload=payload))
                scripts[config, side] = path
        for round_no in range(WRITE_ROUNDS + 1):  # round 0 warms up
            rng.shuffle(runs)
            for config, side in runs:
                result = subprocess.run(
                    [pgbench, "-n", "-U", "odl_app", "-c", str(CLIENTS), "-j", "2", "-T", str(WRITE_SECONDS),
                     "-f", str(scripts[config, side]), ctx.dbname],
                    capture_output=True, text=True,
                )
                if result.returncode != 0 or "tps = " not in result.stdout:
                    raise RuntimeError(f"pgbench failed ({config}, {side}):\n{result.stdout}\n{result.stderr}")
                tps = float(re.search(r"tps = ([0-9.]+)", result.stdout).group(1))
                if round_no:
                    times.setdefault((config, side), []).append(1 / tps)
    return times


def _canonical(seq, created_at, tenant_id, event_id, actor_id, project_id, doc_id, action, payload) -> bytes:
    micros = (created_at - PG_EPOCH) // timedelta(microseconds=1)
    text = "|".join((str(seq), tenant_id, event_id, actor_id or "", project_id or "", doc_id or "", action, payload))
    return struct.pack(">q", micros) + text.encode()


def _ulid(rng: random.Random, ms: int) -> str:
    value = (ms << 80) | rng.getrandbits(80)
    return "".join(ALPHABET[(value >> (5 * k)) & 31] for k in reversed(range(26)))


def _load_chain(ctx: Context, tenant_id: str, user_id: str, rng: random.Random) -> float:
    """EVENTS chained events of one tenant, made in Python (the documented
    canonical form, so that verification passing also checks it) and copied
    in by the superuser; then the head, vacuum analyze and prewarm."""
    with ctx.connect(autocommit=True) as conn, Stopwatch() as sw:
        key_id, inner, outer = conn.execute(
            "select key_id, inner_key, outer_key from odl.audit_keys where retired_at is null"
        ).fetchone()
        key = bytes(b ^ 0x36 for b in inner)
        start = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        actions = ["patch.applied", "document.created", "app.tool_call", "change.approved"]
        projects = [_ulid(rng, 1_767_225_600_000 + i) for i in range(20)]
        prev = bytes(32)
        with conn.cursor() as cur:
            with cur.copy(
                "copy odl.audit_events (tenant_id, seq, created_at, event_id, project_id, doc_id, actor_id, action,"
                " payload, prev_hash, hash, key_id, signature) from stdin"
            ) as copy:
                for seq in range(1, EVENTS + 1):
                    created = start + timedelta(microseconds=seq * 3_000_017)  # about 35 days in all
                    ms = (created - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)
                    event_id = _ulid(rng, ms)
                    project = projects[seq % 20]
                    doc = _ulid(rng, ms - 1000)
                    action = actions[seq % 4]
                    payload = (
                        f'{{"intent": "Replace inverter INV-{seq % 97:02d} after the field inspection", '
                        f'"version": {seq % 500 + 1}, "doc_hash": "sha256:{hashlib.sha256(str(seq).encode()).hexdigest()}", '
                        f'"operations": {seq % 7 + 1}, "tool_version": "odl-agent/1.4.2"}}'
                    )
                    digest = hashlib.sha256(
                        prev + _canonical(seq, created, tenant_id, event_id, user_id, project, doc, action, payload)
                    ).digest()
                    signature = hmac.new(key, digest, hashlib.sha256).digest()
                    copy.write_row((tenant_id, seq, created, event_id, project, doc, user_id, action, payload,
                                    prev, digest, key_id, signature))
                    prev = digest
        conn.execute(
            "insert into odl.audit_heads (tenant_id, seq, hash, created_at) values (%s, %s, %s, %s)",
            (tenant_id, EVENTS, prev, created),
        )
        conn.execute("vacuum analyze odl.audit_events")
        # The exact bytes that verification hashes, for the baseline.
        conn.execute(
            """
            create table bench.hash_input as
            select e.prev_hash || timestamptz_send(e.created_at) || convert_to(concat_ws(
                '|', e.seq, e.tenant_id, e.event_id, coalesce(e.actor_id::text, ''),
                coalesce(e.project_id::text, ''), coalesce(e.doc_id::text, ''), e.action, e.payload
            ), 'UTF8') as bytes
            from odl.audit_events as e
            where e.tenant_id = %s
            """,
            (tenant_id,),
        )
        conn.execute("vacuum analyze bench.hash_input")
        conn.execute("create extension if not exists pg_prewarm")
        conn.execute(
            "select pg_prewarm(c.oid) from pg_class as c"
            " where c.relnamespace = 'odl'::regnamespace and c.relname like 'audit_events%%' and c.relkind in ('r', 'i')"
            " or c.oid = 'bench.hash_input'::regclass"
        )
    return sw.seconds


def _verify_rounds(ctx: Context, tenant_id: str, rng: random.Random):
    """Seconds per round for verification and the two sha256 baselines."""
    queries = {
        "verify": ("select odl.odl_audit_verify(%s)", (tenant_id,)),
        "sha256": ("select count(*) from bench.hash_input where sha256(bytes) = '\\x00'", ()),
        "rows": (
            """
            select count(*) from odl.audit_events as e
            where e.tenant_id = %s and e.hash <> sha256(e.prev_hash || timestamptz_send(e.created_at) || convert_to(
                concat_ws('|', e.seq, e.tenant_id, e.event_id, coalesce(e.actor_id::text, ''),
                coalesce(e.project_id::text, ''), coalesce(e.doc_id::text, ''), e.action, e.payload), 'UTF8'))
            """,
            (tenant_id,),
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in queries}
    with ctx.connect(autocommit=True) as conn:
        # One process, no JIT, on both sides (the verify function sets JIT
        # off itself; with JIT on, the baseline took 50% longer).
        conn.execute("set max_parallel_workers_per_gather = 0")
        conn.execute("set jit = off")
        order = list(queries)
        for round_no in range(VERIFY_ROUNDS + 1):
            rng.shuffle(order)
            for name in order:
                sql, args = queries[name]
                with Stopwatch() as sw:
                    result = conn.execute(sql, args).fetchone()[0]
                if name == "verify" and result != {
                    "ok": True, "checked": EVENTS, "first_broken_seq": None, "reason": None
                }:
                    raise RuntimeError(f"verification of the loaded chain failed: {result}")
                if name != "verify" and result != 0:
                    raise RuntimeError(f"{name}: {result} rows, expected none")
                if round_no:
                    times[name].append(sw.seconds)
    return times


def run(ctx: Context) -> Section:
    rng = random.Random(ctx.seed)
    with ctx.connect(autocommit=True) as conn:
        for statement in BASELINE_DDL:
            conn.execute(statement)
        tenants = _new_tenants(conn, CLIENTS)
        chain_tenant, chain_user = _chain_tenant(conn)
        conn.execute(
            "insert into bench.writers values " + ", ".join(["(%s, %s, %s)"] * CLIENTS),
            [v for i, (t, u) in enumerate(tenants[:CLIENTS]) for v in (i, t, u)],
        )

    with Stopwatch() as writing:
        write_times = _write_rounds(ctx, rng)
    ctx.log(f"measured writes in {writing.seconds:.0f} s")
    with ctx.connect(autocommit=True) as conn:
        counts = dict(conn.execute(
            "select 'audited', count(*) from odl.audit_events union all select 'unaudited', count(*) from bench.plain_events"
        ).fetchall())
        for tenant_id, _ in tenants[:CLIENTS]:
            verdict = conn.execute("select odl.odl_audit_verify(%s)", (tenant_id,)).fetchone()[0]
            if not verdict["ok"]:
                raise RuntimeError(f"a chain written by the benchmark does not verify: {verdict}")

    load_seconds = _load_chain(ctx, chain_tenant, chain_user, rng)
    ctx.log(f"loaded {EVENTS:,} chained events in {load_seconds:.0f} s")
    with Stopwatch() as verifying:
        verify_times = _verify_rounds(ctx, chain_tenant, rng)
    ctx.log(f"measured verification in {verifying.seconds:.0f} s")

    us = 1e6
    rows = [
        compare(
            f"write, 4 clients on {config}: audited vs unaudited append (goal: throughput ≥ {goal:.2f}×, "
            f"i.e. time ≤ {1 / goal:.2f}×)",
            "µs/transaction",
            [t * us for t in write_times[config, "unaudited"]],
            [t * us for t in write_times[config, "audited"]],
            round(1 / goal, 3),
            ctx.seed,
        )
        for config, goal in WRITE_GOALS.items()
    ]
    rows += [
        compare(
            f"diagnostic, 4 clients on {config}: audited vs unaudited append that also sends the NOTIFY",
            "µs/transaction",
            [t * us for t in write_times[config, "unaudited + NOTIFY"]],
            [t * us for t in write_times[config, "audited"]],
            None,
            ctx.seed,
        )
        for config in WRITE_GOALS
    ]
    rows.append(compare(
        f"verify {EVENTS:,} events vs sha256() over the same bytes, materialized",
        "s",
        verify_times["sha256"],
        verify_times["verify"],
        VERIFY_GOAL,
        ctx.seed,
    ))
    rows.append(compare(
        f"diagnostic: hashing each event from its columns (no order, no links) vs sha256() over the same bytes",
        "s",
        verify_times["sha256"],
        verify_times["rows"],
        None,
        ctx.seed,
    ))
    return Section(
        compared=__doc__.split("\n\n", 1)[1].strip(),
        method=_method(),
        rows=rows,
        baseline_name="baseline",
        candidate_name="audit",
        notes=_notes(rows, counts),
        facts={
            "writes": f"{writing.seconds:.0f} s",
            "chain load": f"{load_seconds:.0f} s for {EVENTS:,} events (Python, COPY, vacuum analyze, prewarm)",
            "verification": f"{verifying.seconds:.0f} s",
        },
    )


def _method() -> str:
    return (
        f"- **Writes**: pgbench, {CLIENTS} clients (2 threads), {WRITE_SECONDS} s per run, as odl_app over "
        f"TCP; a transaction is one statement, `select odl.odl_set_context(...), odl.odl_audit_log('tool_call', "
        f"'<~100-byte payload>')` against the same with `bench.plain_log` (see Compared), and, as a diagnostic, "
        f"with `bench.plain_log_notify`, which also sends the audit's NOTIFY. {WRITE_ROUNDS} rounds after a "
        "warm-up round; each round runs the six (configuration, side) pairs in shuffled order, and the ratio is "
        "the median over rounds of audited / baseline time per transaction, with a 95% bootstrap interval. "
        "Afterwards each tenant's chain must verify.\n"
        f"- **Verification**: one tenant with a chain of {EVENTS:,} events over about 35 days (two monthly "
        "partitions), payloads like a patch event (about 200 bytes of JSON: intent, version, content hash, "
        "operation count, tool version), made in Python with the documented canonical form and HMAC, copied in, "
        "`vacuum analyze`d and prewarmed. The baseline table holds, per event, the very bytes verification hashes "
        f"(`prev_hash || canonical event`, about 300 bytes). {VERIFY_ROUNDS} rounds after a warm-up round, "
        "shuffled; every verification must return ok with all events checked. Both run in one backend without "
        "parallel workers or JIT."
    )


def _notes(rows, counts) -> str:
    one, four, one_notify, four_notify, verify_row, hashing_row = rows
    return (
        f"Rows written by the write runs: {counts['audited']:,} audited, {counts['unaudited']:,} unaudited "
        "(the unaudited count includes the runs that also NOTIFY).\n\n"
        "**Where writes wait.** On one tenant every audited transaction holds the tenant's chain head from "
        "its append until its commit, so the 4 clients run one at a time; on a small machine each hand-over "
        "also waits for the next backend to be scheduled. "
        f"Audited throughput is {1 / one.ratio:.2f}× the unaudited one there. On four tenants the heads are "
        "separate, but every audited transaction sends a NOTIFY, and PostgreSQL serializes the commits of all "
        "notifying transactions (a lock of its notification queue, cluster-wide), so these writers wait for "
        f"each other at commit: {1 / four.ratio:.2f}× the plain baseline, {1 / four_notify.ratio:.2f}× a "
        f"baseline that sends the same NOTIFY ({1 / one_notify.ratio:.2f}× on one tenant). The rest is the "
        "chain's own work per event: one more statement (the head's UPDATE, which also hashes), the key lookup "
        "and the signature.\n\n"
        f"**Where verification spends its time.** Hashing each event from its columns alone takes "
        f"{hashing_row.ratio:.2f}× the baseline: building the canonical bytes (a `concat_ws` of eight fields, "
        "`timestamptz_send`, `convert_to`) costs about as much as PostgreSQL's `sha256()` call itself, whose "
        "fixed cost per call dominates at these sizes. Ordering by seq (a sort of narrow rows) and the two "
        f"`lag()` link checks bring it to {verify_row.ratio:.2f}×."
    )
