"""Work queues (待办): the cases waiting for this user, or for their unit or department, most urgent first.

A queue is a set of states in which the loop waits for one kind of work, and the permission that
does it: accepting, filing and dispatching (``cases:dispatch``), handling (``cases:handle``),
checking (``cases:check``), approving extensions and parking by another hand, supervising overdue
cases. Which queues a user has follows from their permissions; which cases are in them from the
caller's scope, the case policy's own predicate. A department's handler sees in "to handle" only
the cases dispatched to their department.

Order is urgency: the stage's due time (``case_clock.due_at``), so overdue cases come first, then
the nearest due time, then the older case. A page is read from the clock index, a state at a time
(``cityops_queue``, migration 0021), so it costs the page, not the queue's length. The queues are
checked against the state machine when the API starts: a queue listing a state from which its
permission leads nowhere would list cases its users cannot move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from command.case_states import OPEN_STATES, CaseState
from command.queries.queues import COUNTS, ITEMS, ONE
from command.users import User
from command.workflow import Rules
from spatial.errors import ForbiddenError, InvalidInputError

MAX_PAGE = 200


@dataclass(frozen=True)
class Queue:
    """Cases in ``states`` wait for work that ``permission`` does; ``late_only``: only those past due."""

    name: str
    permission: str
    states: tuple[CaseState, ...]
    by_department: bool = False  # a handler with a department sees the cases dispatched to it
    late_only: bool = False


QUEUES = (
    Queue("intake", "cases:dispatch", (CaseState.REPORTED,)),
    Queue("filing", "cases:dispatch", (CaseState.ACCEPTED,)),
    Queue("dispatch", "cases:dispatch", (CaseState.FILED, CaseState.RETURNED)),
    Queue(
        "handle",
        "cases:handle",
        (CaseState.DISPATCHED, CaseState.ACKNOWLEDGED, CaseState.HANDLING, CaseState.REWORK),
        by_department=True,
    ),
    Queue("approval", "cases:dispatch", (CaseState.EXTENSION_REQUESTED, CaseState.PARKING_REQUESTED)),
    Queue("check", "cases:check", (CaseState.CHECKING,)),
    Queue("parked", "cases:dispatch", (CaseState.PARKED,)),
    Queue("supervise", "cases:supervise", OPEN_STATES, late_only=True),
)
BY_NAME = {queue.name: queue for queue in QUEUES}


def check_queues(rules: Rules, queues: tuple[Queue, ...] = QUEUES) -> None:
    """Every queue's states must offer its permission a move (see the module docstring); raise if not."""
    for queue in queues:
        idle = [s for s in queue.states if not any(m.permission == queue.permission for m in rules.moves.get(s, ()))]
        if idle and not queue.late_only:
            raise RuntimeError(f"queue {queue.name}: {queue.permission} has no move from {', '.join(idle)}")


def queues_of(user: User) -> tuple[Queue, ...]:
    """The queues this user works, in the loop's order."""
    return tuple(queue for queue in QUEUES if user.may(queue.permission))


def queue_named(user: User, name: str) -> Queue:
    """One of the user's queues by name: an unknown name is 422, a queue their roles do not work 403."""
    queue = BY_NAME.get(name)
    if queue is None:
        raise InvalidInputError(f"unknown queue {name!r}; queues: {', '.join(BY_NAME)}")
    if not user.may(queue.permission):
        names = ", ".join(q.name for q in queues_of(user)) or "none"
        raise ForbiddenError(f"queue {name} is work for {queue.permission}; the queues of {user.username}: {names}")
    return queue


async def queue_counts(conn: psycopg.AsyncConnection, user: User) -> dict[str, dict[str, int]]:
    """Per queue of the user: how many cases wait, and how many of them are overdue (one pass over the clocks)."""
    queues = queues_of(user)
    if not queues:
        return {}
    states = sorted({s for q in queues for s in q.states})
    rows = await (await conn.execute(COUNTS, {"states": states, "department": user.department})).fetchall()
    counts: dict[str, dict[str, int]] = {q.name: {"cases": 0, "late": 0} for q in queues}
    for state, mine, cases, late in rows:
        for queue in queues:
            if state not in queue.states or (queue.by_department and user.department and not mine):
                continue
            counts[queue.name]["cases"] += late if queue.late_only else cases
            counts[queue.name]["late"] += late
    return counts


async def queue_items(
    conn: psycopg.AsyncConnection, user: User, queue: Queue, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    """A page of the queue, most urgent first (the stage's due time, then the case), with what a card shows."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidInputError(f"limit is 1…{MAX_PAGE} and offset 0 or more")
    async with conn.cursor(row_factory=dict_row) as cur:
        return await (await cur.execute(ITEMS, page_parameters(user, queue, limit, offset), prepare=True)).fetchall()


def page_parameters(user: User, queue: Queue, limit: int, offset: int) -> dict[str, object]:
    """The values ``ITEMS`` takes for a page of ``queue`` as ``user`` works it."""
    handled_by = user.department if queue.by_department else None
    return {
        "states": list(queue.states),
        "handled_by": handled_by,
        "late_only": queue.late_only,
        "limit": limit,
        "offset": offset,
    }


async def case_card(conn: psycopg.AsyncConnection, case_id: int) -> dict[str, Any] | None:
    """One case as a queue card shows it, whatever its state (None: not in the caller's scope)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        return await (await cur.execute(ONE, {"case": case_id})).fetchone()


def plain(row: dict[str, Any], zone: Any) -> dict[str, Any]:
    """A queue item for JSON: ids as strings, times in the city's zone (ISO 8601 with offset)."""
    return {
        k: (v.astimezone(zone).isoformat() if isinstance(v, datetime) else str(v) if k == "id" else v)
        for k, v in row.items()
    }
