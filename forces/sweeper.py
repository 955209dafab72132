"""The API's background duty for dispatch: deadlines and the position history's partitions.

Every few seconds, assignments not accepted in time are released and — when configured —
offered to the responsible unit's next candidate (``cityops_sweep_assignments``, one
transaction in the database, so two API processes sweeping at once cannot double-book; an
assignment its force is answering at that moment is left to the answer); each outcome is
audited, told in the assignment's story and announced. Hourly, tomorrow's history partitions are made and those past
retention dropped.
"""

from __future__ import annotations

import asyncio
import time
from zoneinfo import ZoneInfo

import psycopg
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


async def sweep_every(pool: AsyncConnectionPool, settings: ForceSettings, zone: ZoneInfo) -> None:
    """Run the sweep for the life of the API; a failing round is logged and the next one tries again."""
    maintained = 0.0
    while True:
        try:
            if time.monotonic() - maintained > MAINTENANCE_S:
                async with pool.connection() as conn:
                    created, dropped = await maintain_history(conn, settings)
                maintained = time.monotonic()
                log.info("position history maintained", created=created, dropped=dropped)
            for row in await sweep_once(pool, settings, zone):
                log.info("assignment timed out", assignment=row[0], case=row[1], force=row[2], next_force=row[4])
        except psycopg.Error as error:  # the sweep outlives a database restart: next round tries again
            log.warning("dispatch sweep failed; retrying", error=str(error))
        await asyncio.sleep(settings.sweep_interval_s)
