"""Reads from a streaming replica while it keeps up — and never before it has a caller's own writes.

A watcher samples the primary's WAL position and then the replica's replay position every
``SAMPLE_S``. A read may go to the replica when the replica has replayed the primary position
sampled at or after a moment ``since``: then it holds every transaction committed before
``since``. ``since`` is the later of "``max_lag_s`` ago" (no caller sees older data than that) and
the end of the caller's last write in this process (read your writes). Until a sample after that
moment exists, or when the replica is unreachable, the primary answers: never a stale answer to
the one who wrote, only a slower one.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, deque

import psycopg
import structlog
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

log = structlog.get_logger("cityops.read_replica")

SAMPLE_S = 0.1
# the primary's position minus the origin: LSNs as bytes, comparable as integers. The insert position: with
# synchronous_commit off a commit answers before its WAL is written, and the write position may not hold it yet
PRIMARY_POSITION = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint"
REPLICA_POSITION = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"


class ReplicaReads:
    """The replica's pool and the decision, per read, whether it may answer."""

    def __init__(self, pool: AsyncConnectionPool, max_lag_s: float) -> None:
        self.pool = pool
        self.max_lag_s = max_lag_s
        self._primary: deque[tuple[float, int]] = deque(maxlen=math.ceil(max_lag_s / SAMPLE_S) + 20)
        self._replayed: int | None = None  # None: unknown or unreachable
        self._last_write: dict[str, float] = {}
        self.served: Counter[str] = Counter()  # "replica" / "primary": for the health page and the tests

    def wrote(self, caller: str) -> None:
        """``caller``'s write has committed (its answer is going out): their next reads must include it."""
        self._last_write[caller] = time.monotonic()

    def usable_for(self, caller: str | None) -> bool:
        """Whether the replica has everything ``caller`` may expect to read (counted either way)."""
        since = max(time.monotonic() - self.max_lag_s, self._last_write.get(caller, -math.inf) if caller else -math.inf)
        needed = next((position for sampled, position in self._primary if sampled >= since), None)
        usable = needed is not None and self._replayed is not None and self._replayed >= needed
        self.served["replica" if usable else "primary"] += 1
        return usable

    async def watch(self, primary_conninfo: str, replica_conninfo: str, **options: str) -> None:
        """Sample both positions until cancelled; reconnect after a loss (the primary serves meanwhile)."""
        while True:
            try:
                async with (
                    await psycopg.AsyncConnection.connect(
                        make_conninfo(primary_conninfo, **options), autocommit=True
                    ) as primary,
                    await psycopg.AsyncConnection.connect(
                        make_conninfo(replica_conninfo, **options), autocommit=True
                    ) as replica,
                ):
                    while True:
                        sampled = time.monotonic()
                        position = await (await primary.execute(PRIMARY_POSITION, prepare=True)).fetchone()
                        replayed = await (await replica.execute(REPLICA_POSITION, prepare=True)).fetchone()
                        self._primary.append((sampled, position[0] if position else 0))
                        self._replayed = replayed[0] if replayed else None
                        await asyncio.sleep(SAMPLE_S)
            except psycopg.OperationalError as error:
                self._replayed = None
                log.warning("replica unreachable: reads go to the primary", error=str(error))
                await asyncio.sleep(1)
