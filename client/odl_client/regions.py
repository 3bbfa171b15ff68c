"""Tenants pinned to their region's cluster (README, "Regions").

RegionRouter reads the control plane (control/: odl_control.regions and
odl_control.tenants), caches which region each tenant lives in, and hands out
the pool of that region's database. Each regional database checks again: it
refuses a tenant it does not home (ODW03), so a stale cache fails closed and
the router refreshes the tenant's entry and retries once.

move_tenant() moves a tenant to another region as a logged migration
(odl_control.migrations, one state per step):

    planned   the migration is recorded; the tenant still writes at the source
    frozen    the source refuses the tenant's read-write transactions (ODW04),
              after waiting for those under way (odl_region_freeze)
    copied    every row of every tenant-scoped table, in one transaction at
              the target; the audit chain is re-signed with the target's key
    verified  per table, row count and digest equal at source and target; the
              audit chain verifies at the target and ends at the source's head
    flipped   the control plane names the target (only a verified migration
              may change the map)
    purged    the tenant's rows are gone from the source

A failure before the flip unfreezes the source, removes what was copied and
marks the migration failed; the source stays the tenant's home.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from .client import OdlAdmin, OdlConnection, OdlPool, OdlSession, TokenSource
from .errors import OdlError, RegionError, translated

# Rows a move does not carry: the source's freeze marker, and the digests the
# source's ledger issued, which are signed with the source's key (the target
# issues its own; the exported ones stay valid where they were sent).
NOT_COPIED = frozenset({"tenant_departures", "audit_digests"})
# Columns the target writes anew: the tenant's home, and the signature of each
# audit event (the target's key signs the same hashes).
REWRITTEN = {"tenants": ("region",), "audit_events": ("key_id", "signature")}


@dataclass(frozen=True)
class RegionInfo:
    region: str
    dsn: str
    admin_dsn: str


@dataclass(frozen=True)
class RegionTotals:
    """One region's aggregates from odl_region_report(): counts, never rows."""

    region: str
    tenants: int
    users: int
    projects: int
    documents: int
    versions: int
    audit_events: int


class RegionRouter:
    """Routes each tenant to its region's database, as the control plane says.

    `with router.transaction(tenant_id, user_id) as odl:` works like
    OdlPool.transaction() on the tenant's region. An unknown tenant raises
    RegionError (ODW06) without touching any region."""

    def __init__(self, control_dsn: str, *, ttl_seconds: float = 60.0, min_size: int = 0, max_size: int = 4,
                 tokens: TokenSource | None = None, transaction_pooling: bool = False) -> None:
        self.control_dsn = control_dsn
        self.ttl_seconds = ttl_seconds
        self._pool_options: dict[str, Any] = {
            "min_size": min_size, "max_size": max_size, "tokens": tokens, "transaction_pooling": transaction_pooling,
        }
        self._lock = threading.Lock()
        self._homes: dict[str, tuple[str, float]] = {}
        self._regions: dict[str, RegionInfo] | None = None
        self._pools: dict[str, OdlPool] = {}

    # -- the map ---------------------------------------------------------------

    def _control(self) -> psycopg.Connection[Any]:
        with translated():
            return psycopg.connect(self.control_dsn, autocommit=True)

    def regions(self) -> dict[str, RegionInfo]:
        """The regional databases, read once."""
        with self._lock:
            if self._regions is None:
                with self._control() as conn, translated():
                    rows = conn.execute(
                        "select region, dsn, coalesce(admin_dsn, dsn) from odl_control.regions order by region"
                    ).fetchall()
                self._regions = {r: RegionInfo(r, dsn, admin) for r, dsn, admin in rows}
            return self._regions

    def region_of(self, tenant_id: str) -> str:
        """The tenant's home region, from the cache while it is younger than ttl_seconds."""
        now = time.monotonic()
        with self._lock:
            cached = self._homes.get(tenant_id)
        if cached and now - cached[1] < self.ttl_seconds:
            return cached[0]
        with self._control() as conn, translated():
            row = conn.execute("select region from odl_control.tenants where tenant_id = %s", (tenant_id,)).fetchone()
        if row is None:
            with self._lock:
                self._homes.pop(tenant_id, None)
            raise RegionError("no region is known for the tenant", sqlstate="ODW06", detail=f"tenant_id {tenant_id}",
                              hint="Create tenants through RegionRouter.create_tenant(), which registers them.")
        with self._lock:
            self._homes[tenant_id] = (row[0], now)
        return str(row[0])

    def forget(self, tenant_id: str) -> None:
        """Drops the tenant's cached region: the next call asks the control plane."""
        with self._lock:
            self._homes.pop(tenant_id, None)

    # -- connections -------------------------------------------------------------

    def pool_for(self, tenant_id: str) -> OdlPool:
        """The pool of the tenant's region (one per region, opened on first use)."""
        return self.region_pool(self.region_of(tenant_id))

    def region_pool(self, region: str) -> OdlPool:
        with self._lock:
            pool = self._pools.get(region)
        if pool is None:
            info = self.regions().get(region)
            if info is None:
                raise RegionError(f"the control plane lists no database for region {region}", sqlstate="ODW06")
            with self._lock:
                pool = self._pools.get(region)
                if pool is None:
                    pool = self._pools[region] = OdlPool(info.dsn, **self._pool_options)
        return pool

    def connect(self, tenant_id: str, **kwargs: Any) -> OdlConnection:
        """A connection of its own to the tenant's region."""
        return OdlConnection.connect(self.regions()[self.region_of(tenant_id)].dsn, **kwargs)

    @contextmanager
    def transaction(self, tenant_id: str, user_id: str, *, token: str | None = None) -> Iterator[OdlSession]:
        """A transaction in the tenant's region with the context set. When the
        region refuses the tenant as not its own (ODW03: the tenant moved after
        the cache read the map), the entry is refreshed and the context is set
        once more, in the region the control plane names now."""
        for attempt in range(2):
            stack = ExitStack()
            try:
                session = stack.enter_context(self.pool_for(tenant_id).transaction(tenant_id, user_id, token=token))
            except RegionError as error:
                stack.close()
                if error.sqlstate == "ODW03" and attempt == 0:
                    self.forget(tenant_id)
                    continue
                raise
            with stack:
                yield session
            return

    def admin(self, region: str) -> OdlAdmin:
        """An administrator's connection to a region (its admin_dsn)."""
        return OdlAdmin.connect(self.regions()[region].admin_dsn)

    def create_tenant(self, name: str, region: str) -> str:
        """Creates the tenant in its region's database, then registers it in
        the control plane. Should the registration fail, the tenant exists but
        is routed nowhere: it fails closed."""
        with self.admin(region) as admin:
            tenant_id = admin.create_tenant(name, region)  # type: ignore[arg-type]
        with self._control() as conn, translated():
            conn.execute("select odl_control.register_tenant(%s, %s)", (tenant_id, region))
        return tenant_id

    # -- reports -------------------------------------------------------------------

    def report(self) -> list[RegionTotals]:
        """Each region's totals (odl_region_report() in each regional database)
        and, last, their sum as region 'ALL'. Only aggregates cross regions."""
        totals: list[RegionTotals] = []
        for info in self.regions().values():
            with psycopg.connect(info.admin_dsn, autocommit=True) as conn, translated():
                rows = conn.execute("select * from odl.odl_region_report()").fetchall()
            totals.extend(RegionTotals(*row) for row in rows)
        fields = ("tenants", "users", "projects", "documents", "versions", "audit_events")
        totals.append(RegionTotals("ALL", *(sum(getattr(t, f) for t in totals) for f in fields)))
        return totals

    # -- moves -------------------------------------------------------------------------

    def move_tenant(self, tenant_id: str, target_region: str) -> int:
        """Moves the tenant to target_region (see the module's docstring); returns
        the migration's id. Needs superuser admin_dsns: the copy writes the
        ledger and re-signs its events."""
        self.forget(tenant_id)
        source_region = self.region_of(tenant_id)
        regions = self.regions()
        if target_region not in regions or target_region == source_region:
            raise RegionError(f"cannot move a tenant of region {source_region} to region {target_region}",
                              sqlstate="ODW05", detail=f"tenant_id {tenant_id}")
        move = _Move(self.control_dsn, tenant_id, regions[source_region], regions[target_region])
        try:
            move.run()
        finally:
            self.forget(tenant_id)
        return move.migration_id

    def finish_move(self, migration_id: int) -> None:
        """Purges the source of a migration that stopped after its flip (the
        tenant lives at the target, but the mover died before the purge: the
        source still holds the tenant's rows, frozen)."""
        with self._control() as conn, translated():
            row = conn.execute(
                "select tenant_id, source_region, target_region, state from odl_control.migrations "
                "where migration_id = %s", (migration_id,)).fetchone()
        if row is None or row[3] != "flipped":
            raise RegionError("only a flipped migration can be finished", sqlstate="ODW07",
                              detail=f"migration_id {migration_id}, state {row[3] if row else None}")
        regions = self.regions()
        move = _Move(self.control_dsn, row[0], regions[row[1]], regions[row[2]])
        move.migration_id, move.state = migration_id, "flipped"
        with psycopg.connect(self.control_dsn, autocommit=True) as control, \
                psycopg.connect(move.source.admin_dsn, autocommit=True) as src:
            move.purge(src)
            move.step(control, "purged")

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def __enter__(self) -> RegionRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    sequences: tuple[tuple[str, str], ...]  # (column, sequence)

    def select(self, tenant_id: str, target_region: str, verifying: bool = False) -> sql.Composed:
        """The tenant's rows as the target holds them (a migration writes the
        tenant's region anew); for a digest, without what the target re-signs."""
        parts: list[sql.Composable] = []
        for column in self.columns:
            if column == "region" and self.name == "tenants":
                parts.append(sql.SQL("{}::text as region").format(sql.Literal(target_region)))
            elif verifying and column in REWRITTEN.get(self.name, ()):
                continue
            else:
                parts.append(sql.Identifier(column))
        return sql.SQL("select {} from odl.{} where tenant_id = {}").format(
            sql.SQL(", ").join(parts), sql.Identifier(self.name), sql.Literal(tenant_id))


def _tenant_tables(conn: psycopg.Connection[Any]) -> list[_Table]:
    """Every table of schema odl with a tenant_id column (partitioned tables as
    a whole), with its stored columns and the sequences behind its columns."""
    rows = conn.execute(
        """
        select
            c.relname::text,
            array_agg(a.attname::text order by a.attnum) filter (where a.attgenerated = ''),
            array_agg(array[a.attname::text, pg_get_serial_sequence(c.oid::regclass::text, a.attname)])
                filter (where pg_get_serial_sequence(c.oid::regclass::text, a.attname) is not null)
        from pg_class as c
        join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relnamespace = 'odl'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
            and exists (
                select from pg_attribute as t
                where t.attrelid = c.oid and t.attname = 'tenant_id' and not t.attisdropped
            )
        group by c.relname
        order by c.relname
        """
    ).fetchall()
    return [_Table(name, tuple(cols), tuple((s[0], s[1]) for s in (seqs or []))) for name, cols, seqs in rows]


class _Move:
    def __init__(self, control_dsn: str, tenant_id: str, source: RegionInfo, target: RegionInfo) -> None:
        self.control_dsn = control_dsn
        self.tenant_id = tenant_id
        self.source, self.target = source, target
        self.migration_id = 0
        self.state = "planned"
        self.copied = False

    def step(self, control: psycopg.Connection[Any], state: str, detail: dict[str, Any] | None = None) -> None:
        with translated():
            control.execute(
                "select odl_control.advance_migration(%s, %s, %s)", (self.migration_id, state, Jsonb(detail or {})),
            )
        self.state = state

    def run(self) -> None:
        with psycopg.connect(self.control_dsn, autocommit=True) as control:
            with translated():
                self.migration_id = control.execute(
                    "select odl_control.plan_migration(%s, %s, %s)",
                    (self.tenant_id, self.source.region, self.target.region),
                ).fetchone()[0]  # type: ignore[index]
            with psycopg.connect(self.source.admin_dsn, autocommit=True) as src, \
                    psycopg.connect(self.target.admin_dsn, autocommit=True) as dst:
                try:
                    self.freeze(src)
                    self.step(control, "frozen")
                    tables = self.tables(src, dst)
                    counts = self.copy(src, dst, tables)
                    self.step(control, "copied", {"rows": counts})
                    self.step(control, "verified", self.verify(src, dst, tables))
                    with translated():
                        control.execute("select odl_control.flip_tenant(%s)", (self.migration_id,))
                    self.state = "flipped"
                except BaseException as error:
                    self.abandon(control, src, dst, error)
                    raise
                # The target is the tenant's home now: what is left is cleanup.
                with translated():
                    dst.execute(
                        "select odl.audit_append_as(%s, null, 'tenant.arrived', %s)",
                        (self.tenant_id, Jsonb({"from": self.source.region, "migration_id": self.migration_id})),
                    )
                self.purge(src)
                self.step(control, "purged")

    def freeze(self, src: psycopg.Connection[Any]) -> None:
        with translated():
            src.execute("select odl.odl_region_freeze(%s, %s, %s)",
                        (self.tenant_id, self.target.region, self.migration_id))

    def tables(self, src: psycopg.Connection[Any], dst: psycopg.Connection[Any]) -> list[_Table]:
        ours, theirs = _tenant_tables(src), _tenant_tables(dst)
        if [(t.name, t.columns) for t in ours] != [(t.name, t.columns) for t in theirs]:
            raise OdlError("the source and target databases have different tenant tables: deploy both to one plan")
        return [t for t in ours if t.name not in NOT_COPIED]

    def copy(self, src: psycopg.Connection[Any], dst: psycopg.Connection[Any], tables: list[_Table]) -> dict[str, int]:
        counts: dict[str, int] = {}
        with translated(), dst.transaction():
            if dst.execute("select exists (select from odl.tenants where tenant_id = %s)",
                           (self.tenant_id,)).fetchone()[0]:  # type: ignore[index]
                raise RegionError("the tenant already exists in the target region", sqlstate="ODW05",
                                  detail=f"tenant_id {self.tenant_id}")
            # Rows go in as they are: no trigger (the projectors, the ledger's
            # append-only guards) and no foreign-key check fires on them.
            dst.execute("set local session_replication_role = replica")
            dst.execute("create temporary table odl_move_audit (like odl.audit_events) on commit drop")
            for table in tables:
                into = "odl_move_audit" if table.name == "audit_events" else f"odl.{table.name}"
                copy_out = sql.SQL("copy ({}) to stdout (format binary)").format(
                    table.select(self.tenant_id, self.target.region))
                copy_in = sql.SQL("copy {} ({}) from stdin (format binary)").format(
                    sql.SQL(into), sql.SQL(", ").join(map(sql.Identifier, table.columns)))
                with src.cursor().copy(copy_out) as out, dst.cursor().copy(copy_in) as inn:
                    for block in out:
                        inn.write(block)
            # Each event keeps its hash, chain and seq; the target's key signs it.
            ledger = next(t for t in tables if t.name == "audit_events")
            dst.execute(sql.SQL(
                "insert into odl.audit_events ({}) select {} from odl_move_audit as e "
                "cross join lateral odl.audit_sign(e.hash) as s order by e.seq"
            ).format(
                sql.SQL(", ").join(map(sql.Identifier, ledger.columns)),
                sql.SQL(", ").join(
                    sql.SQL("s.{}" if c in REWRITTEN["audit_events"] else "e.{}").format(sql.Identifier(c))
                    for c in ledger.columns
                ),
            ))
            for table in tables:
                for column, sequence in table.sequences:
                    dst.execute(
                        sql.SQL("select setval({seq}, greatest((select max({col}) from odl.{tbl}), "
                                "(select last_value from {seqid})))").format(
                            seq=sql.Literal(sequence), col=sql.Identifier(column), tbl=sql.Identifier(table.name),
                            seqid=sql.SQL(sequence)))
            for table in tables:
                counts[table.name] = dst.execute(
                    sql.SQL("select count(*) from odl.{} where tenant_id = %s").format(sql.Identifier(table.name)),
                    (self.tenant_id,)).fetchone()[0]  # type: ignore[index]
        self.copied = True
        return counts

    def digests(self, conn: psycopg.Connection[Any], tables: list[_Table]) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        with translated(), conn.transaction():
            conn.execute("set transaction isolation level repeatable read")
            for table in tables:
                count, digest = conn.execute(
                    sql.SQL("select count(*), md5(coalesce(string_agg(r::text, E'\\n' order by r::text), '')) "
                            "from ({}) as r").format(table.select(self.tenant_id, self.target.region, verifying=True)),
                ).fetchone()  # type: ignore[misc]
                found[table.name] = [count, digest]
        return found

    def verify(self, src: psycopg.Connection[Any], dst: psycopg.Connection[Any],
               tables: list[_Table]) -> dict[str, Any]:
        before, after = self.digests(src, tables), self.digests(dst, tables)
        differing = sorted(name for name in before if before[name] != after[name])
        if differing:
            raise RegionError("the copy differs from the source", sqlstate="ODW05",
                              detail=f"tables {', '.join(differing)}")
        with translated():
            head = src.execute("select seq, encode(hash, 'hex') from odl.audit_heads where tenant_id = %s",
                               (self.tenant_id,)).fetchone()
            chain = dst.execute("select odl.odl_audit_verify(%s)", (self.tenant_id,)).fetchone()[0]  # type: ignore[index]
            copied_head = dst.execute("select seq, encode(hash, 'hex') from odl.audit_heads where tenant_id = %s",
                                      (self.tenant_id,)).fetchone()
        if not chain.get("ok") or head != copied_head:
            raise RegionError("the audit chain does not verify at the target", sqlstate="ODW05",
                              detail=f"verify {chain}, source head {head}, target head {copied_head}")
        return {"digests": after, "audit": chain, "audit_head": list(head) if head else None}

    def delete_tenant(self, conn: psycopg.Connection[Any], tables: list[_Table]) -> None:
        with translated(), conn.transaction():
            conn.execute("set local session_replication_role = replica")
            for table in tables:
                conn.execute(sql.SQL("delete from odl.{} where tenant_id = %s").format(sql.Identifier(table.name)),
                             (self.tenant_id,))

    def purge(self, src: psycopg.Connection[Any]) -> None:
        # Everything, the freeze marker and the issued digests included.
        self.delete_tenant(src, _tenant_tables(src))

    def abandon(self, control: psycopg.Connection[Any], src: psycopg.Connection[Any],
                dst: psycopg.Connection[Any], error: BaseException) -> None:
        if self.copied:
            self.delete_tenant(dst, _tenant_tables(dst))
        if self.state != "planned":
            with translated():
                src.execute("select odl.odl_region_unfreeze(%s)", (self.tenant_id,))
        self.step(control, "failed", {"error": str(error)})
