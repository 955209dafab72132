"""A background loop for case clocks (``command.worker``): warn before a stage runs out, escalate when it has.

Every ``deadline_sweep_s`` one transaction (SKIP LOCKED, so several processes share the work
without doing any of it twice) marks the cases due within ``due_warning_minutes`` that were not
warned yet, moves each overdue case's responsibility one tier up — a transition by
``system:scheduler`` with the units in its detail, again every ``escalation_step_minutes`` while
it stays overdue, until it reaches the city — and sets the next review of parked cases whose
review has come. Each outcome is announced on the change feed (``cityops_events``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from psycopg_pool import AsyncConnectionPool

from command.intake import notify
from command.loop_settings import LoopSettings
from command.workflow import Rules

ESCALATE = "SELECT * FROM cityops_escalate_overdue(%s, %s, %s)"
WARN = "SELECT * FROM cityops_warn_due(%s, %s, %s)"
REVIEWS = "SELECT * FROM cityops_reviews_due(%s, %s, %s)"
BATCH = 500
log = structlog.get_logger("cityops.deadlines")


@dataclass(frozen=True)
class Watched:
    """What one round did: (case, state, from unit, to unit, due) escalations, warnings, reviews."""

    escalated: list[tuple]
    warned: list[tuple]
    reviews: list[tuple]


async def watch_once(
    pool: AsyncConnectionPool, settings: LoopSettings, rules: Rules, now: datetime | None = None
) -> Watched:
    """One round at ``now`` (the clock by default; tests pass a moment)."""
    at = now or datetime.now(UTC)
    async with pool.connection() as conn, conn.transaction():
        warned = await (await conn.execute(WARN, (at, settings.due_warning, BATCH))).fetchall()
        escalated = await (await conn.execute(ESCALATE, (at, settings.escalation_step, BATCH))).fetchall()
        reviews = await (
            await conn.execute(REVIEWS, (at, rules.stages.review_every(at, rules.calendar), BATCH))
        ).fetchall()
        for case, state, due in warned:
            await notify(conn, "due_soon", case_id=str(case), state=state, due_at=due.isoformat())
        for case, state, from_unit, to_unit, due in escalated:
            await notify(
                conn,
                "escalated",
                case_id=str(case),
                state=state,
                from_unit=from_unit,
                to_unit=to_unit,
                due_at=due.isoformat(),
            )
        for case, review_at in reviews:
            await notify(conn, "review_due", case_id=str(case), review_at=review_at.isoformat())
    return Watched(escalated, warned, reviews)


async def watch_round(pool: AsyncConnectionPool, settings: LoopSettings, rules: Rules) -> None:
    """One round of the watch, its escalations logged (``command.worker`` runs it every ``deadline_sweep_s``)."""
    round_ = await watch_once(pool, settings, rules)
    for case, _, from_unit, to_unit, _ in round_.escalated:
        log.info("overdue case escalated", case=case, from_unit=from_unit, to_unit=to_unit)
