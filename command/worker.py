"""The background work, apart from the web server: `cityops worker`, and the same loops inside `cityops serve`.

Five loops do the platform's periodic work, each a singleton across processes (``spatial.loops``):
the audit sealer, the dispatch sweeper, the deadline watch, the follow-up sender and the rollups'
folding (with the open cases' tick). They run in
``cityops worker`` and, guarded by the same locks, in every ``cityops serve`` process too: however
many API processes (``--workers N``) and workers run, each loop works in one of them, and when that
one dies another takes over. So ``cityops up`` still starts everything with one command, and a
deployment may add workers (or rely on them alone) without changing a thing.

A package above this layer brings its loops in the same way without being imported here: the incidents'
summons watch (``incidents.summons.summons_loops``) is handed to ``work`` by ``cityops worker`` and
started beside these by ``api.app``.

Not here, because each process needs its own copy: the change feed (it fans live updates out to
*this* process's SSE viewers), the user-changes listener (it clears *this* process's user cache)
and the analytics warm-up (it compiles kernels into *this* process). Those stay in the API's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import structlog
from psycopg_pool import AsyncConnectionPool

from command import evaluation
from command.deadline_watch import watch_round
from command.follow_up import Outbox, send_round
from command.loop_settings import LoopSettings
from command.workflow import Rules
from command.working_time import WorkingCalendar
from forces.settings import ForceSettings
from forces.sweeper import Sweeper
from grid import binning
from spatial.audit import seal_round
from spatial.database import Database
from spatial.loops import Singleton, every
from spatial.settings import StoreSettings

AUDIT_SEAL_SECONDS = 1.0  # how soon an audit entry joins the hash chain
ROLLUP_FOLD_SECONDS = 5.0  # how long the rollups' appended rows wait to be merged
# the evaluation's moves, the hot spots' cases per cell and day, the zoomed-out map's open cases per cell
ROLLUP_FOLDS = (evaluation.FOLD, binning.FOLD, "SELECT cityops_open_case_cell_fold()")
# the open cases fallen due since the last round moved to their cells' overdue side (a reader counts the rest)
OPEN_CASE_TICK = "SELECT cityops_open_case_tick()"
WORKER_CONNECTIONS = 5  # one per loop at most; the loops' locks have connections of their own
log = structlog.get_logger("cityops.worker")


@dataclass(frozen=True)
class Loop:
    """A periodic job: its name (its lock's), how often, and one round of it."""

    name: str
    interval_s: float
    job: Callable[[], Awaitable[object]]


def singleton_loops(
    database: Database, store: StoreSettings, forces: ForceSettings, loops: LoopSettings, rules: Rules
) -> list[Loop]:
    """The loops that must run once across all processes, on the API role's pool."""
    pool = database.pool
    outbox = Outbox(loops, store.data_dir / "follow_up.jsonl")
    return [
        Loop("audit-sealer", AUDIT_SEAL_SECONDS, partial(seal_round, pool)),
        Loop("dispatch-sweeper", forces.sweep_interval_s, Sweeper(pool, forces, rules.calendar.zone)),
        Loop("deadline-watch", loops.deadline_sweep_s, partial(watch_round, pool, loops, rules)),
        Loop("follow-up-sender", loops.deadline_sweep_s / 6, partial(send_round, pool, outbox)),
        Loop("rollups", ROLLUP_FOLD_SECONDS, partial(fold_rollups, pool)),
    ]


async def fold_rollups(pool: AsyncConnectionPool) -> int:
    """One pass of the rollups' folding: each key's appended rows merged into one (a sum is a sum however many
    rows it is spread over, so readers never wait for it), after the open cases' tick; returns how many rows
    fewer they hold."""
    merged = 0
    async with pool.connection() as conn:
        await conn.execute(OPEN_CASE_TICK)
        for fold in ROLLUP_FOLDS:
            row = await (await conn.execute(fold)).fetchone()
            merged += int(row[0]) if row else 0
    return merged


def start(loops: list[Loop], singleton: Singleton | None) -> list[asyncio.Task[None]]:
    """Each loop as a task of the running event loop."""
    return [
        asyncio.create_task(every(loop.interval_s, loop.job, loop.name, singleton=singleton), name=loop.name)
        for loop in loops
    ]


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait for them: each closes its lock connection, so another process takes over now."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def work(
    store: StoreSettings,
    forces: ForceSettings,
    loops: LoopSettings,
    wait_s: float = 5.0,
    more: Callable[[Database, LoopSettings], list[Loop]] | None = None,
) -> None:
    """Run the singleton loops until SIGTERM or SIGINT (``cityops worker``); ``more``: the loops of the packages
    above this one (incidents), which this layer may not import."""
    calendar = WorkingCalendar.china()
    database = await Database.open(store, zone=calendar.zone.key, size=WORKER_CONNECTIONS, wait_s=wait_s)
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    try:
        async with database.pool.connection() as conn:
            rules = await Rules.load(conn, calendar)
        extra = more(database, loops) if more else []
        tasks = start([*singleton_loops(database, store, forces, loops, rules), *extra], database.singleton)
        log.info("worker started", loops=[task.get_name() for task in tasks])
        with contextlib.suppress(asyncio.CancelledError):
            await stopping.wait()
        await stop(tasks)
    finally:
        await database.close()
