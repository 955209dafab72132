"""What a move does to a case's clocks: the handling deadline, the stage's due time, parking.

The handling deadline starts when a case is filed (or reopened) from its category's time limit,
moves with an approved extension (by what was asked, in the category's kind of time), and stops
while the case is parked: approval stores the handling time left, resuming lays it out again
from the moment of resumption — on the working calendar for working-time limits, so a case
parked over a holiday week loses none of it. Every open stage has its own due time from
``stage_limit`` (data); handling stages are due at the handling deadline. The scheduler
escalates a case when its stage's due time passes (``escalate_at`` starts equal to it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import psycopg

from command.working_time import LimitKind, TimeLimit, WorkingCalendar

WALL_CLOCK = (LimitKind.URGENT_HOURS, LimitKind.CALENDAR_DAYS)
NO_CLOCK = ("closed", "void")


@dataclass(frozen=True)
class StageLimits:
    """Each open state's time limit; ``None`` means the case's handling deadline."""

    limits: dict[str, TimeLimit | None]

    @classmethod
    async def load(cls, conn: psycopg.AsyncConnection) -> StageLimits:
        """The ``stage_limit`` table as it is now."""
        rows = await (await conn.execute("SELECT state, time_limit, limit_kind FROM stage_limit")).fetchall()
        return cls(
            {state: None if value is None else TimeLimit(float(value), LimitKind(kind)) for state, value, kind in rows}
        )

    def review_every(self, now: datetime, calendar: WorkingCalendar) -> timedelta:
        """The span from ``now`` to a parked case's next review."""
        limit = self.limits.get("parked") or TimeLimit(5, LimitKind.WORKING_DAYS)
        return calendar.deadline(now, limit) - now


@dataclass(frozen=True)
class Clocks:
    """The case's clock columns (``case_file``), before or after a move."""

    filed_at: datetime
    deadline: datetime
    due_at: datetime | None
    review_at: datetime | None
    parked_remaining_s: float | None
    dispatched_at: datetime | None


def _remaining(now: datetime, deadline: datetime, kind: LimitKind, calendar: WorkingCalendar) -> float:
    """Handling time left at ``now``, in seconds of the limit's kind of time (0 when already overdue)."""
    left = deadline - now if kind in WALL_CLOCK else calendar.working_time_between(now, deadline)
    return max(left.total_seconds(), 0.0)


def _lay_out(now: datetime, seconds: float, kind: LimitKind, calendar: WorkingCalendar) -> datetime:
    span = timedelta(seconds=seconds)
    return now + span if kind in WALL_CLOCK else calendar.add_working_time(now, span)


def advance(
    clocks: Clocks,
    action: str,
    from_state: str,
    to_state: str,
    now: datetime,
    *,
    category_limit: TimeLimit,
    stages: StageLimits,
    calendar: WorkingCalendar,
    extend_by: float | None = None,
) -> Clocks:
    """The clocks after ``action`` moves the case from ``from_state`` to ``to_state`` at ``now``.

    A move to the same state (supervision, escalation) leaves every clock as it was.
    """
    if from_state == to_state:
        return clocks
    kind = category_limit.kind
    moved = clocks
    if action in ("file", "reopen"):
        moved = replace(moved, filed_at=now, deadline=calendar.deadline(now, category_limit))
    elif action == "dispatch":
        moved = replace(moved, dispatched_at=now)
    elif action == "approve_extension":
        extra = TimeLimit(extend_by or category_limit.value, kind)
        moved = replace(moved, deadline=calendar.deadline(max(clocks.deadline, now), extra))
    elif action == "approve_parking":
        moved = replace(moved, parked_remaining_s=_remaining(now, clocks.deadline, kind, calendar))
    elif action == "resume":
        moved = replace(
            moved, deadline=_lay_out(now, clocks.parked_remaining_s or 0.0, kind, calendar), parked_remaining_s=None
        )
    if to_state == "parked":
        review = stages.limits.get("parked")
        return replace(moved, due_at=None, review_at=calendar.deadline(now, review) if review else None)
    if to_state in NO_CLOCK:
        return replace(moved, due_at=None, review_at=None)
    if to_state not in stages.limits:
        return replace(moved, review_at=None)
    limit = stages.limits[to_state]
    due = moved.deadline if limit is None else calendar.deadline(now, limit)
    return replace(moved, due_at=due, review_at=None)
