"""A unit's KPIs as series over time (the planner's trend charts): the evaluation of each day or week.

Each point is the evaluation's total row (``command.evaluation``) of the unit's subtree over its
bucket. All points come from one grouped pass of the evaluation's own SQL
(``evaluate_series``; one ``evaluate`` per point took 9 s for thirty days of the city), so a
point of a trend and the evaluation of the same span agree by construction and the formulas
live in one place. Buckets are calendar days, or weeks from Monday, in the calendar's zone
(Beijing), clipped to the window: a window that starts at 15:00 has a first day of nine hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import psycopg

from command.evaluation import By, Period, evaluate_series, total_of_nothing
from spatial.errors import InvalidInputError
from spatial.rows import one

# what a trend point carries: counts and rates of the evaluation's total row ("overdue": late moves)
FIGURES = ("filed", "closed", "closed_on_time", "overdue", "closure_rate", "on_time_closure_rate", "satisfaction_rate")
MAX_POINTS = 160  # three years by week; a longer daily series is unreadable at the planner's size
PARTS = """
SELECT c.code, c.name, c.tier::text FROM unit c
WHERE c.parent_id = %s AND c.tier IN ('district', 'street', 'community') ORDER BY c.code
"""
UNIT = "SELECT code, name, tier::text FROM unit WHERE id = %s"


class Step(StrEnum):
    """How long one point of a trend is."""

    day = "day"
    week = "week"


@dataclass(frozen=True)
class Bucket:
    """One point's span, ``[start, end)``, and the local date that names it."""

    date: str
    start: datetime
    end: datetime


def step_for(start: datetime, end: datetime) -> Step:
    """Days for up to two months, weeks beyond (a chart of a few dozen points either way)."""
    return Step.day if end - start <= timedelta(days=62) else Step.week


def buckets(start: datetime, end: datetime, step: Step, zone: ZoneInfo) -> list[Bucket]:
    """Local days (or weeks from Monday) covering ``[start, end)``, each clipped to it."""
    first = start.astimezone(zone).date()
    if step is Step.week:
        first -= timedelta(days=first.weekday())
    length = timedelta(days=7 if step is Step.week else 1)
    spans, day = [], first
    while (opening := datetime.combine(day, time(), zone)) < end:
        closing = datetime.combine(day + length, time(), zone)
        spans.append(Bucket(day.isoformat(), max(opening, start), min(closing, end)))
        day += length
        if len(spans) > MAX_POINTS:
            raise InvalidInputError(f"more than {MAX_POINTS} points: shorten the window or use step=week")
    return spans


async def kpi_trends(
    conn: psycopg.AsyncConnection,
    unit_id: int,
    spans: list[Bucket],
    step: Step,
    zone: ZoneInfo,
    department: str | None,
) -> dict[str, object]:
    """The unit (code, name, tier), its sub-units one could choose instead, and one point per bucket.

    ``spans``: ``buckets(start, end, step, zone)``, the window's days or weeks, every one a point
    (a bucket without any move is a point of zeros).
    """
    code, name, tier = one(await (await conn.execute(UNIT, (unit_id,))).fetchone())
    parts = [{"code": c, "name": n, "tier": t} for c, n, t in await (await conn.execute(PARTS, (unit_id,))).fetchall()]
    window = Period(unit_id, spans[0].start, spans[-1].end, By.area, department)
    totals = await evaluate_series(conn, window, step.value, zone)
    nothing = total_of_nothing()
    points = []
    for span in spans:
        total = totals.get(date.fromisoformat(span.date), nothing)
        points.append(
            {
                "date": span.date,
                "from": span.start.isoformat(),
                "to": span.end.isoformat(),
                **{figure: total[figure] for figure in FIGURES},
            }
        )
    return {"unit": {"code": code, "name": name, "tier": tier}, "parts": parts, "points": points}
