"""The live change feed: what changed on the map, told to each viewer whose jurisdiction covers it.

PostgreSQL announces changes at commit (NOTIFY): a case stored, moved, merged or escalated on
``cityops_events``, forces that moved or changed status on ``cityops_positions``, assignments
on ``cityops_assignments`` (the case and its assignments as they stand), major incidents on
``cityops_incidents`` (the incident and its newest timeline entry). One hub per API
process listens, gathers what was announced during a short window, reads the current state of
those cases and forces in one query each (with the city's scope) and hands every viewer the
items their jurisdiction covers — the test row-level security applies to the same rows (the
tests compare the two). An assignment also reaches the people behind its force, wherever its
case lies (a borrowed force), and only that.

Items are states, not deltas: a case's state and version, a force's position and status. A
viewer who gets one twice, or an older one after a newer (the page keeps the highest version),
still shows the right map. That is what lets a reconnecting viewer be caught up without a log
of its own written on every move: everything changed since its last batch, less a grace period
for transactions stamped before that batch but committed after it, is read again from the
tables' own times (transitions, position receipts, assignments, status changes) under the
viewer's own scope. Each batch carries a cursor: the database clock just before it was read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import structlog
from psycopg.conninfo import make_conninfo

from command.queries.change_feed import (
    ASSIGNED_SINCE,
    ASSIGNMENTS,
    CASES,
    CASES_SINCE,
    CURSOR,
    FORCES,
    FORCES_SINCE,
    INCIDENTS,
    INCIDENTS_SINCE,
)
from spatial.rows import one

log = structlog.get_logger("cityops.change_feed")

CHANNELS = ("cityops_events", "cityops_positions", "cityops_assignments", "cityops_incidents")
GRACE = timedelta(seconds=30)
REPLAY_WINDOW = timedelta(hours=1)  # a viewer away longer reloads its layers instead
REPLAY_LIMIT = 5000  # so does one that missed more items than this
RECONNECT_S = 1.0


@dataclass(frozen=True)
class Viewer:
    """Whose map: the unit whose subtree they see, their department if confined to one, whether forces and
    cases show, the force they answer for."""

    unit_id: int
    department: str | None
    sees_forces: bool
    sees_cases: bool = True
    force_id: int | None = None

    def sees(self, item: Item) -> bool:
        """Row-level security's rule (migrations 0010, 0012), applied to an item already read; and a force's
        people see its assignments (migration 0020)."""
        if item.kind == "assignment" and self.force_id is not None and item.for_force == self.force_id:
            return True
        if not (self.sees_forces if item.kind == "force" else self.sees_cases):
            return False
        if item.kind == "incident":  # migration 0032: a department sees the incidents that summoned it
            return self.department in item.departments if self.department else self.unit_id in item.units
        return self.unit_id in item.units and (self.department is None or self.department in item.departments)


@dataclass(frozen=True)
class Item:
    """One case, force or assignment as the map draws it, with what decides who may see it (not sent)."""

    kind: str
    body: dict[str, object]
    units: tuple[int, ...]
    departments: tuple[str, ...]
    for_force: int | None = None  # an assignment: its force's people see it too


@dataclass(frozen=True)
class Batch:
    """Items read together, and the cursor a viewer resumes from after them."""

    cursor: int
    items: tuple[Item, ...]

    def seen_by(self, viewer: Viewer) -> Batch:
        """The part of the batch ``viewer`` may see."""
        return Batch(self.cursor, tuple(item for item in self.items if viewer.sees(item)))

    def payload(self) -> bytes:
        """The JSON a page receives: cases, forces, assignments and incidents."""
        return orjson.dumps(
            {
                "cursor": self.cursor,
                "cases": [item.body for item in self.items if item.kind == "case"],
                "forces": [item.body for item in self.items if item.kind == "force"],
                "assignments": [item.body for item in self.items if item.kind == "assignment"],
                "incidents": [item.body for item in self.items if item.kind == "incident"],
            }
        )


RESET = Batch(-1, ())  # "you missed too much: reload your layers"


def _when(value: datetime | None) -> str | None:
    """ISO 8601 in the reading session's zone: the hub's and the API's sessions are in the city's."""
    return None if value is None else value.isoformat()


def _case(row: tuple) -> Item:
    (
        case_id,
        state,
        version,
        category,
        severity,
        lon,
        lat,
        unit,
        deadline,
        due_at,
        supervised,
        escalations,
        reports,
        merged_into,
        units,
        departments,
    ) = row
    body = {
        "id": str(case_id),
        "state": state,
        "version": version,
        "category": category,
        "severity": severity,
        "lon": lon,
        "lat": lat,
        "unit": unit,
        "deadline": _when(deadline),
        "due_at": _when(due_at),
        "supervised": supervised,
        "escalations": escalations,
        "reports": reports,
        "merged_into": None if merged_into is None else str(merged_into),
    }
    return Item("case", body, tuple(units), tuple(departments or ()))


def _force(row: tuple) -> Item:
    force_id, code, name, kind, status, lon, lat, fixed_at, unit, case_id, units, department = row
    body = {
        "id": str(force_id),
        "code": code,
        "name": name,
        "kind": kind,
        "status": status,
        "lon": lon,
        "lat": lat,
        "fixed_at": _when(fixed_at),
        "unit": unit,
        "case_id": None if case_id is None else str(case_id),
    }
    return Item("force", body, tuple(units), (department,) if department else ())


def _assignment(row: tuple) -> Item:
    assignment_id, case_id, force_id, code, name, accept_by, stage, reason, units, departments = row
    body = {
        "id": str(assignment_id),
        "case_id": str(case_id),
        "force_id": str(force_id),
        "force_code": code,
        "force_name": name,
        "accept_by": _when(accept_by),
        "stage": stage,
        "release_reason": reason,
    }
    return Item("assignment", body, tuple(units or ()), tuple(departments or ()), force_id)


def _incident(row: tuple) -> Item:
    incident_id, code, title, level, state, version, lon, lat, last_entry, units, departments = row
    body = {
        "id": str(incident_id),
        "code": code,
        "title": title,
        "level": level,
        "state": state,
        "version": version,
        "lon": lon,
        "lat": lat,
        "last_entry": last_entry,
    }
    return Item("incident", body, tuple(units), tuple(departments))


async def cursor_now(conn: psycopg.AsyncConnection) -> int:
    """The database clock, as a cursor (microseconds since the epoch)."""
    return int(one(await (await conn.execute(CURSOR)).fetchone())[0])


async def read_batch(
    conn: psycopg.AsyncConnection,
    case_ids: Iterable[int],
    force_ids: Iterable[int],
    assigned: Iterable[int] = (),
    incident_ids: Iterable[int] = (),
) -> Batch:
    """The current state of the given cases, forces and incidents, and the assignments of the ``assigned``
    cases (those the connection's scope shows)."""
    cursor = await cursor_now(conn)
    items: list[Item] = []
    cases, forces, of_cases = sorted(set(case_ids)), sorted(set(force_ids)), sorted(set(assigned))
    if cases:
        items += [_case(row) for row in await (await conn.execute(CASES, (cases,))).fetchall()]
    if forces:
        items += [_force(row) for row in await (await conn.execute(FORCES, (forces,))).fetchall()]
    if of_cases:
        items += [_assignment(row) for row in await (await conn.execute(ASSIGNMENTS, (of_cases,))).fetchall()]
    if incidents := sorted(set(incident_ids)):
        items += [_incident(row) for row in await (await conn.execute(INCIDENTS, (incidents,))).fetchall()]
    return Batch(cursor, tuple(items))


async def catch_up(conn: psycopg.AsyncConnection, viewer: Viewer, cursor: int) -> Batch:
    """Everything ``viewer`` may see that changed since ``cursor`` (less the grace), or ``RESET``.

    ``conn`` carries the viewer's own scope, so row-level security decides what comes back.
    """
    since = datetime.fromtimestamp(cursor / 1_000_000, UTC) - GRACE
    if since < datetime.now(UTC) - REPLAY_WINDOW:
        return RESET
    bounds = {"since": since, "limit": REPLAY_LIMIT + 1}
    cases = [row[0] for row in await (await conn.execute(CASES_SINCE, bounds)).fetchall()]
    forces = (
        [row[0] for row in await (await conn.execute(FORCES_SINCE, bounds)).fetchall()] if viewer.sees_forces else []
    )
    assigned = [row[0] for row in await (await conn.execute(ASSIGNED_SINCE, bounds)).fetchall()]
    incidents = [row[0] for row in await (await conn.execute(INCIDENTS_SINCE, bounds)).fetchall()]
    if max(len(cases), len(forces), len(assigned), len(incidents)) > REPLAY_LIMIT:
        return RESET
    return (await read_batch(conn, cases, forces, assigned, incidents)).seen_by(viewer)


def _announced(channel: str, payload: str) -> tuple[list[int], list[int], list[int]]:
    """Case ids, force ids and incident ids named by one notification."""
    if channel == "cityops_positions":
        return [], [int(part) for part in payload.split(",") if part], []
    if channel == "cityops_assignments":  # "<what>:<case id>"
        return [int(payload.rsplit(":", 1)[1])], [], []
    if channel == "cityops_incidents":  # "<what>:<incident id>"
        return [], [], [int(payload.rsplit(":", 1)[1])]
    notice = orjson.loads(payload)
    return [int(notice[key]) for key in ("case_id", "merged_case_id", "new_case_id") if notice.get(key)], [], []


@dataclass(eq=False)
class Subscription:
    """One viewer's queue of batches; a viewer too slow to keep up gets ``RESET`` instead of a backlog."""

    viewer: Viewer
    queue: asyncio.Queue[Batch] = field(default_factory=lambda: asyncio.Queue(maxsize=256))

    def offer(self, batch: Batch) -> None:
        """Queue the part of ``batch`` this viewer may see (nothing when that is nothing)."""
        mine = batch.seen_by(self.viewer)
        if not mine.items:
            return
        try:
            self.queue.put_nowait(mine)
        except asyncio.QueueFull:
            self.reset()

    def reset(self) -> None:
        """Drop what is queued and tell the viewer to reload instead."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(RESET)


class ChangeHub:
    """Listens for changes, reads them in batches, and fans them out to the subscribed viewers."""

    def __init__(
        self,
        conninfo: str,
        connect: Mapping[str, str],
        scope: tuple[str, str],
        window_s: float = 0.05,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        """``on_lost``: called when the connection is lost (the database stopped or restarted)."""
        self._conninfo, self._connect, self._scope, self._window_s = conninfo, connect, scope, window_s
        self._on_lost = on_lost
        self._subscriptions: set[Subscription] = set()
        self._cases: set[int] = set()
        self._forces: set[int] = set()
        self._assigned: set[int] = set()  # cases whose assignments changed
        self._incidents: set[int] = set()  # incidents whose timeline grew
        self._pending = asyncio.Event()
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def subscribe(self, viewer: Viewer) -> Iterator[Subscription]:
        """A subscription for as long as the block runs."""
        subscription = Subscription(viewer)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    @property
    def viewers(self) -> int:
        """How many viewers are subscribed now."""
        return len(self._subscriptions)

    async def run(self) -> None:
        """Listen and fan out until cancelled; after a lost connection, viewers are told to reload."""
        while True:
            try:
                await self._listen()
            except* (psycopg.OperationalError, psycopg.InterfaceError) as errors:
                log.warning("change feed lost; viewers reload and it reconnects", error=str(errors.exceptions[0]))
                self.listening.clear()
                if self._on_lost is not None:
                    self._on_lost()
                for subscription in list(self._subscriptions):
                    subscription.reset()
                await asyncio.sleep(RECONNECT_S)

    async def _listen(self) -> None:
        async with (
            await psycopg.AsyncConnection.connect(
                make_conninfo(self._conninfo, **self._connect), autocommit=True
            ) as listener,
            await psycopg.AsyncConnection.connect(
                make_conninfo(self._conninfo, **self._connect), autocommit=True
            ) as reader,
        ):
            await reader.execute(
                "SELECT set_config('cityops.scope_unit', %s, false), set_config('cityops.department', %s, false)",
                self._scope,
            )
            for channel in CHANNELS:
                await listener.execute(f"LISTEN {channel}")
            self.listening.set()
            async with asyncio.TaskGroup() as tasks:  # either failing ends both, and run() reconnects
                tasks.create_task(self._gather(listener))
                tasks.create_task(self._flush_every(reader))

    async def _gather(self, listener: psycopg.AsyncConnection) -> None:
        async for notice in listener.notifies():
            cases, forces, incidents = _announced(notice.channel, notice.payload)
            self._cases.update(cases)
            self._forces.update(forces)
            self._incidents.update(incidents)
            if notice.channel == "cityops_assignments":
                self._assigned.update(cases)
            self._pending.set()

    async def _flush_every(self, reader: psycopg.AsyncConnection) -> None:
        while True:
            await self._pending.wait()
            await asyncio.sleep(self._window_s)  # let a burst gather into one read
            self._pending.clear()
            cases, forces, assigned, incidents = self._cases, self._forces, self._assigned, self._incidents
            self._cases, self._forces, self._assigned, self._incidents = set(), set(), set(), set()
            if not self._subscriptions:
                continue
            batch = await read_batch(reader, cases, forces, assigned, incidents)
            for subscription in list(self._subscriptions):
                subscription.offer(batch)
