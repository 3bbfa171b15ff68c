"""A read cache in Redis for odl_get_document() and odl_document_heads()
that never serves a stale read.

    cache = ReadCache(redis.Redis(port=6379), "dbname=odl user=app")
    with cache, OdlPool("dbname=odl user=app") as pool:
        doc = cache.get_document(pool, tenant_id, user_id, doc_id)        # current version
        old = cache.get_document(pool, tenant_id, user_id, doc_id, 3)     # version 3
        heads = cache.heads(pool, tenant_id, user_id, project_id)

What "never stale" means: a read returns what the database would have
returned at some instant between the call and its return. In particular it
never returns a version older than one whose commit finished before the call
began, nor a document redacted by rights that were already withdrawn.

Why that holds
--------------
1. The database sends a NOTIFY on its secret change channel
   (``odl.odl_change_channel()``) for every stored
   version (tenant_id, doc_id, version, doc_hash), for every change of a row
   that decides what a tenant's users may read (kind "rights": users, nodes,
   projects, role assignments) and for every change of the access policy
   (kind "policy"). NOTIFY is delivered after commit, never on rollback, to
   each listening session in commit order (sql/045_change_notify/notify.sql).

2. A listener thread LISTENs on that channel and applies each event to
   Redis before it looks at the next: a version raises the document's
   *pointer* to at least that version (a maximum, so it never goes down) and
   changes the tenant's *heads token*; rights change the tenant's *rights
   token* and heads token; policy changes the *global epoch*.

3. A barrier: before each read, the cache sends a NOTIFY on a channel of its
   own and waits until its listener has received it. PostgreSQL queues
   notifications in commit order, so by then the listener has applied every
   event of every transaction that committed before the read began.
   Concurrent readers share one barrier (at most one is in flight); the
   barrier also returns the database's clock. No listener, or a barrier that
   does not come back in time: the read goes to the database and nothing is
   cached (``stats["bypassed"]``).

4. Every key holds the tokens it depends on: the global epoch, the tenant's
   rights token (documents) or heads token (heads), the user, the document
   and its version. An entry is never changed once written, and is correct
   for its key: a version's content never changes, and the user's rights
   are those of the tokens in the key, because the reader took the tokens
   *before* its database read, so any rights change after that read's
   snapshot has since replaced a token and the entry is unreachable. Tokens
   are random strings, never counters: a token Redis evicted comes back as a
   new random value, never as an old one.

5. The pointer is at most the current version (every value written into it
   was committed: by a notification, or seen by a reader in the database)
   and, after the barrier, at least every version committed before the read
   began (2, 3). So after the barrier the pointer *is* the current version.
   A pointer that is missing (evicted, new epoch) is a miss, never a guess.

6. A listener that loses its connection misses what is sent meanwhile.
   Until it is back every read bypasses the cache; once LISTEN is active
   again it replaces the global epoch before it trusts anything, so nothing
   written before the gap is reachable. Other processes sharing the Redis
   start afresh too, which costs misses, never staleness.

7. Role assignments start and end by the clock, which sends nothing. A miss
   also asks ``odl_rights_stable_until()`` (the next such instant for the
   acting user) in the same transaction, and an entry is served only while
   the barrier's database clock is before it.

Costs: a hit is one barrier (a NOTIFY round trip, shared by concurrent
readers) and one Redis call; a miss adds the usual transaction. The cache
holds redacted documents per user: size Redis for users x hot documents, and
keep Redis as private as the database (entries expire after ``max_ttl``).
Use one Redis server, not Redis Cluster (the scripts build key names).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg import sql

from .client import OdlSession
from .models import DocumentHead, DocumentRead


class TransactionSource(Protocol):
    """An OdlPool or OdlConnection: what a miss reads through."""

    def transaction(self, tenant_id: str, user_id: str) -> AbstractContextManager[OdlSession]: ...


# Tokens that Redis lost are made again, at random: an evicted token can
# never come back with a value that old entries were written under.
_TOKEN = """
local function token(key, fresh)
    local value = redis.call('GET', key)
    if not value then
        redis.call('SET', key, fresh)
        value = fresh
    end
    return value
end
"""

# ARGV: prefix, fresh, tenant, user, doc, version ('' for the current one)
_LOOKUP_DOCUMENT = _TOKEN + """
local p = ARGV[1]
local epoch = token(p .. 'epoch', ARGV[2])
local rights = token(p .. 'r:' .. ARGV[3], ARGV[2])
local version = ARGV[6]
if version == '' then
    version = redis.call('GET', p .. 'ptr:' .. epoch .. ':' .. ARGV[3] .. ':' .. ARGV[5])
end
local entry = false
if version then
    entry = redis.call('GET', p .. 'doc:' .. epoch .. ':' .. ARGV[3] .. ':' .. rights .. ':' .. ARGV[4] .. ':'
        .. ARGV[5] .. ':' .. version)
end
return {epoch, rights, version, entry}
"""

# ARGV: prefix, fresh, tenant, user, project ('' for all)
_LOOKUP_HEADS = _TOKEN + """
local p = ARGV[1]
local epoch = token(p .. 'epoch', ARGV[2])
local heads = token(p .. 't:' .. ARGV[3], ARGV[2])
local entry = redis.call('GET', p .. 'heads:' .. epoch .. ':' .. ARGV[3] .. ':' .. heads .. ':' .. ARGV[4] .. ':'
    .. ARGV[5])
return {epoch, heads, entry}
"""

# KEYS: the pointer. ARGV: version, ttl. The pointer only goes up.
_RAISE_POINTER = """
local current = redis.call('GET', KEYS[1])
if not current or tonumber(current) < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""

# ARGV: prefix, fresh, tenant, doc, version, ttl. A stored version: raise
# the pointer in the current epoch, replace the tenant's heads token.
_ON_VERSION = _TOKEN + """
local p = ARGV[1]
local epoch = token(p .. 'epoch', ARGV[2])
local key = p .. 'ptr:' .. epoch .. ':' .. ARGV[3] .. ':' .. ARGV[4]
local current = redis.call('GET', key)
if not current or tonumber(current) < tonumber(ARGV[5]) then
    redis.call('SET', key, ARGV[5], 'EX', ARGV[6])
end
redis.call('SET', p .. 't:' .. ARGV[3], ARGV[2])
return 1
"""

SYNC_CHANNEL_PREFIX = "odl_cache_sync_"


def _fresh() -> str:
    return uuid.uuid4().hex


class ReadCache:
    """Redis read cache for documents and heads, invalidated by change events.

    redis_client: a redis.Redis (decode_responses off or on); conninfo: where
    the listener connects (any login of the database may LISTEN); max_ttl:
    seconds an entry may stay in Redis; sync_timeout: how long a read waits
    for its barrier before it reads the database directly.
    """

    def __init__(self, redis_client: Any, conninfo: str = "", *, prefix: str = "odl:cache:",
                 max_ttl: int = 3600, sync_timeout: float = 2.0, reconnect_delay: float = 0.2,
                 connect: Callable[..., psycopg.Connection[Any]] = psycopg.connect) -> None:
        self.redis = redis_client
        self.conninfo = conninfo
        self.prefix = prefix
        self.max_ttl = max_ttl
        self.sync_timeout = sync_timeout
        self.reconnect_delay = reconnect_delay
        self._connect = connect
        self._lookup_document = redis_client.register_script(_LOOKUP_DOCUMENT)
        self._lookup_heads = redis_client.register_script(_LOOKUP_HEADS)
        self._raise_pointer = redis_client.register_script(_RAISE_POINTER)
        self._on_version = redis_client.register_script(_ON_VERSION)
        self.sync_channel = SYNC_CHANNEL_PREFIX + _fresh()
        self.stats = {"hits": 0, "misses": 0, "bypassed": 0, "notifications": 0, "reconnects": 0}
        self._stats_lock = threading.Lock()
        self._cond = threading.Condition()
        self._trusted = False
        self._incarnation = 0
        self._issued = 0
        self._completed = 0
        self._sending = False
        self._stamps: dict[int, datetime] = {}
        self._sender: psycopg.Connection[Any] | None = None
        self._listener: psycopg.Connection[Any] | None = None
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------
    def start(self, wait: float = 10.0) -> ReadCache:
        """Starts the listener; waits up to `wait` seconds until it is trusted."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="odl-cache-listener", daemon=True)
            self._thread.start()
        deadline = time.monotonic() + wait
        with self._cond:
            while not self._trusted and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
        return self

    @property
    def trusted(self) -> bool:
        """True while the listener is connected and applying notifications."""
        return self._trusted

    def close(self) -> None:
        self._closing.set()
        self._untrust()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for conn in (self._sender, self._listener):
            if conn is not None:
                conn.close()

    @property
    def listener_pid(self) -> int | None:
        """The backend pid of the listener's connection, while it has one."""
        listener = self._listener
        return listener.info.backend_pid if listener is not None and not listener.closed else None

    def __enter__(self) -> ReadCache:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    # -- reads ---------------------------------------------------------------
    def get_document(self, source: TransactionSource, tenant_id: str, user_id: str, doc_id: str,
                     version: int | None = None) -> DocumentRead:
        """odl_get_document() as user_id: the current version, or `version`."""
        stamp = self._barrier()
        if stamp is None:
            self._count("bypassed")
            with source.transaction(tenant_id, user_id) as odl:
                return odl.get_document(doc_id, version)
        epoch, rights, cached_version, entry = (
            _text(v) for v in self._lookup_document(args=[
                self.prefix, _fresh(), tenant_id, user_id, doc_id, "" if version is None else str(version),
            ])
        )
        if entry is not None and cached_version is not None:
            stored = json.loads(entry)
            if stored["until"] is None or stamp.timestamp() < stored["until"]:
                self._count("hits")
                return DocumentRead(doc_id, int(cached_version), stored["document"], stored["redacted"])
        self._count("misses")
        with source.transaction(tenant_id, user_id) as odl:
            read = odl.get_document(doc_id, version)
            until = _until(odl)
        key = f"{self.prefix}doc:{epoch}:{tenant_id}:{rights}:{user_id}:{doc_id}:{read.version}"
        self.redis.set(
            key, json.dumps({"document": read.document, "redacted": read.redacted, "until": until}),
            ex=self.max_ttl,
        )
        if version is None:
            self._raise_pointer(keys=[f"{self.prefix}ptr:{epoch}:{tenant_id}:{doc_id}"],
                                args=[read.version, self.max_ttl])
        return read

    def heads(self, source: TransactionSource, tenant_id: str, user_id: str,
              project_id: str | None = None) -> list[DocumentHead]:
        """odl_document_heads() as user_id (of one project)."""
        stamp = self._barrier()
        if stamp is None:
            self._count("bypassed")
            with source.transaction(tenant_id, user_id) as odl:
                return odl.heads(project_id)
        epoch, token, entry = (
            _text(v) for v in self._lookup_heads(args=[self.prefix, _fresh(), tenant_id, user_id, project_id or ""])
        )
        if entry is not None:
            stored = json.loads(entry)
            if stored["until"] is None or stamp.timestamp() < stored["until"]:
                self._count("hits")
                return [_head(h) for h in stored["heads"]]
        self._count("misses")
        with source.transaction(tenant_id, user_id) as odl:
            heads = odl.heads(project_id)
            until = _until(odl)
        key = f"{self.prefix}heads:{epoch}:{tenant_id}:{token}:{user_id}:{project_id or ''}"
        self.redis.set(key, json.dumps({"heads": [asdict(h) for h in heads], "until": until}, default=str),
                       ex=self.max_ttl)
        return heads

    # -- the barrier -----------------------------------------------------------
    def _barrier(self) -> datetime | None:
        """The database's clock once the listener has applied every event
        committed before this call; None when that cannot be known now."""
        deadline = time.monotonic() + self.sync_timeout
        with self._cond:
            if not self._trusted:
                return None
            incarnation = self._incarnation
            target = self._issued + 1  # a sync sent after this call began
            while True:
                if not self._trusted or self._incarnation != incarnation:
                    return None
                if self._completed >= target and target in self._stamps:
                    return self._stamps[target]
                if not self._sending and self._issued < target:
                    self._sending = True
                    self._issued = target
                    self._cond.release()
                    try:
                        stamp = self._send_sync(incarnation, target)
                    finally:
                        self._cond.acquire()
                        self._sending = False
                    if stamp is None:
                        self._issued = target - 1
                        self._cond.notify_all()
                        return None
                    self._stamps[target] = stamp
                    for old in [t for t in self._stamps if t < target - 64]:
                        del self._stamps[old]
                    self._cond.notify_all()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def _send_sync(self, incarnation: int, token: int) -> datetime | None:
        try:
            if self._sender is None or self._sender.closed:
                self._sender = self._connect(self.conninfo, autocommit=True)
            row = self._sender.execute(
                "select clock_timestamp() from pg_notify(%s, %s)", (self.sync_channel, f"{incarnation}:{token}")
            ).fetchone()
            return row[0] if row else None
        except psycopg.Error:
            if self._sender is not None:
                self._sender.close()
            self._sender = None
            return None

    # -- the listener ----------------------------------------------------------
    def _untrust(self) -> None:
        with self._cond:
            self._trusted = False
            self._cond.notify_all()

    def _listen(self) -> None:
        while not self._closing.is_set():
            try:
                conn = self._listener = self._connect(self.conninfo, autocommit=True)
                try:
                    # The channel's name is secret (any login may LISTEN on a
                    # channel it can name); an application reads it.
                    channel = conn.execute("select odl.odl_change_channel()").fetchone()[0]
                    conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
                    conn.execute(f"listen {self.sync_channel}")
                    # What was sent while no LISTEN was active is lost: every
                    # entry written before now becomes unreachable.
                    self.redis.set(self.prefix + "epoch", _fresh())
                    with self._cond:
                        self._incarnation += 1
                        incarnation = self._incarnation
                        self._trusted = True
                        self._cond.notify_all()
                    while not self._closing.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._apply(note, incarnation)
                finally:
                    self._untrust()
                    conn.close()
            except Exception:  # noqa: BLE001 - any failure: untrusted until reconnected
                self._untrust()
                if self._closing.is_set():
                    return
                self._count("reconnects")
                self._closing.wait(self.reconnect_delay)

    def _apply(self, note: psycopg.Notify, incarnation: int) -> None:
        if note.channel == self.sync_channel:
            sent_in, _, token = note.payload.partition(":")
            if int(sent_in) == incarnation:
                with self._cond:
                    self._completed = max(self._completed, int(token))
                    self._cond.notify_all()
            return
        self._count("notifications")
        event = json.loads(note.payload)
        kind = event.get("kind")
        if kind == "version":
            self._on_version(args=[self.prefix, _fresh(), event["tenant_id"], event["doc_id"], event["version"],
                                   self.max_ttl])
        elif kind == "rights":
            fresh = _fresh()
            self.redis.mset({f"{self.prefix}r:{event['tenant_id']}": fresh,
                             f"{self.prefix}t:{event['tenant_id']}": fresh})
        else:  # "policy", or a kind this client does not know: forget everything
            self.redis.set(self.prefix + "epoch", _fresh())


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _until(odl: OdlSession) -> float | None:
    """odl_rights_stable_until() as seconds since the epoch (None: never)."""
    (row,) = odl._fetch("odl_rights_stable_until", table=False)
    stamp = next(iter(row.values()))
    return stamp.timestamp() if stamp is not None else None


def _head(stored: dict[str, Any]) -> DocumentHead:
    if stored.get("valid_from") is not None:
        stored = {**stored, "valid_from": datetime.fromisoformat(stored["valid_from"])}
    return DocumentHead(**stored)
