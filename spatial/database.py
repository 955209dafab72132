"""The API role's database, resolved once per process: its URL, its session options, its pools and their health.

The API and the worker reach the city database through several connection sets — asyncio pools for
the hot paths and for scoped case work, a SQLAlchemy engine for the rest, dedicated connections for
the change feeds and the loops' locks. Each used to resolve the URL and the role switch again (and
check the embedded cluster again); ``Database.open`` does it once and every consumer takes the
resolved values from here.

With a transaction pooler configured (``CITYOPS_POOLER_URL``, PgBouncer: ``spatial.embedded_pooler``)
the pools and the engine go through it, and what lives in a session lasts only a transaction there:
no prepared statements, the zone set by a statement PgBouncer tracks, the caller's scope set inside
the request's transaction (``web.deps``). What needs a session of its own — LISTEN, the loops'
advisory locks, the replica's watch — keeps connecting directly (``conninfo``).

It also looks after the pools' health after an outage: the first connection failure has the idle
connections checked (``examine``), so the dead ones a restart left are discarded instead of failing
one request each (``api.outage`` answers the failure itself); and until a checkout succeeds again a
checkout waits only ``DOUBT_WAIT_S``, so a request during the outage is refused at once rather than
after the pool's whole wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine

from spatial.db import SESSION_ZONE, as_libpq, database_url, engine_at, session_options
from spatial.embedded import API_ROLE
from spatial.embedded_replica import embedded_replica_url
from spatial.errors import ConfigurationError
from spatial.loops import Singleton
from spatial.read_replica import ReplicaReads
from spatial.settings import StoreSettings

# a checkout's wait while a connection loss is unexplained: enough for a reconnection (tens of ms),
# far less than the pool's wait, which during an outage every request would otherwise spend in full
DOUBT_WAIT_S = 0.25


@dataclass
class Database:
    """The open connection sets of one process, logged in as the API role, their sessions in the city's zone."""

    url: str  # SQLAlchemy's
    conninfo: str  # libpq's, for psycopg's own connections
    options: dict[str, str]  # libpq startup options: the role switch and the zone
    engine: Engine
    # reads need no transaction: autocommit spares a BEGIN and a ROLLBACK round trip each
    read_engine: Engine
    # the hot paths (locate, readiness) run on asyncio connections: no thread hop at all
    pool: AsyncConnectionPool
    # case work has a pool of its own: each checkout sets the caller's scope first (web.deps)
    scoped_pool: AsyncConnectionPool
    # at most this many blocking calls at once; the rest wait in the event loop (web.deps.db_call)
    slots: asyncio.Semaphore
    # reads that may come from the streaming replica (web.deps.read_connection), when one is configured
    replica: ReplicaReads | None = None
    # the pools and the engine go through a transaction pooler (PgBouncer): session state lasts a transaction
    pooled: bool = False
    _check: asyncio.Task[None] | None = field(default=None, repr=False)
    _replica_watch: asyncio.Task[None] | None = field(default=None, repr=False)
    _in_doubt: bool = field(default=False, repr=False)

    @classmethod
    async def open(cls, store: StoreSettings, *, zone: str, size: int, wait_s: float) -> Database:
        """Resolve the URL once and open the pools (``size`` connections at most each, a checkout waits ``wait_s``)."""
        url = database_url(store, api=True)
        options = session_options(store, api=True, zone=zone)
        conninfo = as_libpq(url)
        if store.pooler_url is None:
            pool = await _open_pool(conninfo, options, size, wait_s)
            scoped_pool = await _open_pool(conninfo, options, size, wait_s)
            engine = engine_at(url, store.pool_size, options, wait_s)
        else:
            pooled = as_libpq(store.pooler_url)
            await _check_pooler_role(pooled)
            pool = await _open_pool(pooled, {}, size, wait_s, pooled_zone=zone)
            scoped_pool = await _open_pool(pooled, {}, size, wait_s, pooled_zone=zone)
            engine = engine_at(store.pooler_url, store.pool_size, {}, wait_s, pooled_zone=zone)
        read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        opened = cls(
            url,
            conninfo,
            options,
            engine,
            read_engine,
            pool,
            scoped_pool,
            asyncio.Semaphore(size),
            pooled=store.pooler_url is not None,
        )
        replica_url = store.replica_url or (None if store.database_url else embedded_replica_url(store))
        if replica_url:
            replica_conninfo = as_libpq(replica_url)
            replica_pool = await _open_pool(replica_conninfo, options, size, wait_s)
            opened.replica = ReplicaReads(replica_pool, store.replica_max_lag_s)
            opened._replica_watch = asyncio.create_task(opened.replica.watch(conninfo, replica_conninfo, **options))
        return opened

    @property
    def singleton(self) -> Singleton:
        """Where the background loops take their locks."""
        return Singleton(self.conninfo, self.options)

    @asynccontextmanager
    async def checkout(self, pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection of ``pool`` (``self.pool`` or ``self.scoped_pool``); its wait is short while in doubt."""
        async with pool.connection(timeout=DOUBT_WAIT_S if self._in_doubt else None) as conn:
            self._in_doubt = False
            yield conn

    def examine(self) -> None:
        """Doubt the database until a checkout succeeds; have the idle connections checked (in the background)
        unless a check is under way."""
        self._in_doubt = True
        if self._check is None or self._check.done():
            self._check = asyncio.create_task(self._discard_dead())

    async def _discard_dead(self) -> None:
        for pool in (self.pool, self.scoped_pool):
            await pool.check()  # psycopg_pool closes each idle connection that fails a round trip
        # SQLAlchemy's pool has no such check: its idle connections are replaced wholesale (checked-out ones
        # are discarded when returned), as it does itself when it recognises a disconnect
        await asyncio.to_thread(self.engine.pool.dispose)

    async def close(self) -> None:
        """Close the pools and the engine's connections."""
        if self._replica_watch is not None:
            self._replica_watch.cancel()
        if self.replica is not None:
            await self.replica.pool.close()
        await self.pool.close()
        await self.scoped_pool.close()
        self.engine.dispose()


async def _check_pooler_role(conninfo: str) -> None:
    """Refuse a pooler that logs in as anyone but the API role: row-level security binds only that role,
    and a pooled connection cannot switch to it at startup as a direct one does."""
    async with await psycopg.AsyncConnection.connect(conninfo, prepare_threshold=None) as conn:
        role = (await (await conn.execute("SELECT current_user")).fetchone() or ("",))[0]
    if role != API_ROLE:
        raise ConfigurationError(f"CITYOPS_POOLER_URL logs in as {role}: it must log in as {API_ROLE}")


async def _open_pool(
    conninfo: str, options: dict[str, str], size: int, wait_s: float, *, pooled_zone: str | None = None
) -> AsyncConnectionPool:
    """An open pool of autocommit connections; a checkout waits at most ``wait_s`` (then PoolTimeout: a 503).

    ``pooled_zone``: through a transaction pooler, as ``spatial.db.engine_at``: no prepared statements,
    the zone set once a connection.
    """
    # reconnect_timeout: a failed reconnection is retried once a second (psycopg_pool's backoff would wait 1, 2,
    # 4 … s, so a 5 s outage left the pool dark for up to 3 s after the database was back), then left to demand
    pool = AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=size,
        open=False,
        timeout=wait_s,
        reconnect_timeout=wait_s,
        kwargs={"autocommit": True, **options, **({"prepare_threshold": None} if pooled_zone else {})},
        configure=None if pooled_zone is None else partial(_set_zone, zone=pooled_zone),
    )
    await pool.open()
    return pool


async def _set_zone(conn: psycopg.AsyncConnection, zone: str) -> None:
    await conn.execute(SESSION_ZONE, (zone,))
