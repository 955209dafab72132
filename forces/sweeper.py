"""A background loop for dispatch (``command.worker``): deadlines and the position history's partitions.

Every few seconds, assignments not accepted in time are released and — when configured —
offered to the responsible unit's next candidate (``cityops_sweep_assignments``, one
transaction in the database, so two processes sweeping at once cannot double-book; an
assignment its force is answering at that moment is left to the answer); each outcome is
audited, told in the assignment's story and announced. Hourly, tomorrow's history partitions are made and those past
retention dropped.
"""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import structlog
from psycopg_pool import AsyncConnectionPool

from forces.answers import Outcome, Redispatch, announce_release
from forces.positions import maintain_history
from forces.settings import ForceSettings

SWEEP = "SELECT * FROM cityops_sweep_assignments(%s, %s, %s, %s)"
MAINTENANCE_S = 3600.0
log = structlog.get_logger("cityops.dispatch")


async def sweep_once(pool: AsyncConnectionPool, settings: ForceSettings, zone: ZoneInfo) -> list[tuple]:
    """Release what timed out and re-dispatch; returns (expired, case, force, next assignment, next force) rows."""
    redispatch = Redispatch.of(settings, zone)
    async with pool.connection() as conn, conn.transaction():
        rows = await (await conn.execute(SWEEP, (*redispatch.arguments(), settings.redispatch))).fetchall()
        for expired, *outcome in rows:
            await announce_release(conn, expired, "accept_timeout", "system:dispatch", Outcome(*outcome))
    return rows


class Sweeper:
    """One round of the dispatch sweep per call (``command.worker`` runs it every ``sweep_interval_s``);
    the position history is maintained on the first round and hourly after."""

    def __init__(self, pool: AsyncConnectionPool, settings: ForceSettings, zone: ZoneInfo) -> None:
        self._pool, self._settings, self._zone = pool, settings, zone
        self._maintained = -MAINTENANCE_S

    async def __call__(self) -> None:
        """Maintain the history when due, then release (and re-offer) what timed out."""
        if time.monotonic() - self._maintained > MAINTENANCE_S:
            async with self._pool.connection() as conn:
                created, dropped = await maintain_history(conn, self._settings)
            self._maintained = time.monotonic()
            log.info("position history maintained", created=created, dropped=dropped)
        for row in await sweep_once(self._pool, self._settings, self._zone):
            log.info("assignment timed out", assignment=row[0], case=row[1], force=row[2], next_force=row[4])
