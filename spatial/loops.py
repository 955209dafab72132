"""Background loops: one helper for every periodic job, each a singleton across processes.

The audit sealer, the dispatch sweeper, the deadline watch and the follow-up sender were four
copies of ``while True / try / except / sleep``, started in every API process: run as several
processes, the API ran each of them several times. ``every`` runs a job on an interval, logs a
failed round, backs off while the database fails (a stopped database is not asked once a second)
and stops cleanly when cancelled.

With a ``Singleton`` the loop first takes a PostgreSQL session-level advisory lock on a connection
of its own and runs only while it holds it: of the copies started by ``cityops serve --workers N``
and ``cityops worker``, one works and the others wait in ``pg_advisory_lock`` — the server grants
the lock to one of them the moment the holder's session ends (its process killed, its connection
lost). The holder pings its lock connection before each round, so a holder whose connection died
(and whose lock another copy may now hold) stops working at once and queues again.

The lock names the loop and its interval: processes configured alike (one deployment, one
environment) share it; an app configured with another interval — a test's app with a short sweep
beside the suite's shared one — is another loop, as it was before the lock.

Each lock connection names itself (``application_name``) ``cityops loop <name> @<pid> waiting``,
and the holder's ``cityops loop <name> @<pid> #<rounds done>``: ``pg_stat_activity`` shows which
process runs which loop, how far it got, and who waits to take over.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psycopg
import structlog
from psycopg.conninfo import make_conninfo

log = structlog.get_logger("cityops.loops")

# the first key of every loop lock (pg_locks.classid): "city" in ASCII, clear of any other user of advisory locks
LOCK_CLASS = 0x63697479
RENAME = "SELECT set_config('application_name', %s, false)"
BACKOFF_CAP_S = 10.0  # the longest wait after failures: a database back from a restart is used again soon


@dataclass(frozen=True)
class Singleton:
    """Where the loop's lock lives: the database's libpq URL and the session options of its connections."""

    conninfo: str
    options: dict[str, str] = field(default_factory=dict)


def lock_key(name: str, interval_s: float) -> int:
    """The second key of the loop's lock (pg_locks.objid): stable across processes and restarts."""
    return zlib.crc32(f"{name}@{interval_s:g}".encode()) & 0x7FFFFFFF


def backoff(interval_s: float, failures: int) -> float:
    """The wait before the next round: the interval, doubled for each failure in a row, at most the cap."""
    if failures == 0:
        return interval_s
    return min(interval_s * 2**failures, max(interval_s, BACKOFF_CAP_S))


async def every(
    interval_s: float, job: Callable[[], Awaitable[object]], name: str, *, singleton: Singleton | None = None
) -> None:
    """Run ``job`` every ``interval_s`` until cancelled; with ``singleton``, only while holding the loop's lock."""
    if singleton is None:
        await _rounds(interval_s, job, name, None)
        return
    failures = 0
    key = lock_key(name, interval_s)
    while True:
        try:
            conninfo = make_conninfo(
                singleton.conninfo, application_name=f"cityops loop {name} @{os.getpid()} waiting", **singleton.options
            )
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as holder:
                await holder.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, key))
                failures = 0
                log.info("loop taken", loop=name, pid=os.getpid())
                await _rounds(interval_s, job, name, holder)
        except psycopg.Error as error:  # the lock connection failed: the lock may be another's now
            failures += 1
            log.warning("loop lock lost; queueing again", loop=name, error=_first_line(error))
            await asyncio.sleep(backoff(interval_s, failures))


async def _rounds(
    interval_s: float, job: Callable[[], Awaitable[object]], name: str, holder: psycopg.AsyncConnection | None
) -> None:
    """The rounds of one holding; returns never, raises the lock connection's failure."""
    failures = rounds = 0
    while True:
        if holder is not None:  # still ours? (a round trip that also shows the count in pg_stat_activity)
            await holder.execute(RENAME, (f"cityops loop {name} @{os.getpid()} #{rounds}",))
        try:
            await job()
            failures = 0
        except psycopg.Error as error:  # the database failed the round: wait longer each time, then try again
            failures += 1
            log.warning("loop round failed; retrying", loop=name, failures=failures, error=_first_line(error))
        except Exception:  # a bug in one round must not end the loop for the life of the process
            failures += 1
            log.exception("loop round failed", loop=name, failures=failures)
        rounds += 1
        await asyncio.sleep(backoff(interval_s, failures))


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0]
