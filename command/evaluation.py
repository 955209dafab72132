"""Evaluation (综合评价) of a unit's subtree over a period, from the case transitions.

Counts come from one pass of the database over the period's transitions (``cityops_evaluation``),
grouped by the unit's child units (area: each transition belongs to its case's grid), by the
handling department (the one the case was dispatched to), or by the acting role; satisfaction
from the reports rated in the period. Each rate is computed here, by its formula in
``FORMULAS`` — the answer carries them, so a reader can check any figure against the counts.
Periods are half-open, ``[from, to)``; "on time" means at or before the deadline in force when
the move was made (extensions count, parking pauses it).

The counts of a city or a district come mostly from ``evaluation_rollup`` (the span's whole days and
months, kept by a trigger in the same transaction as each move); the worker's ``FOLD`` merges its appended
rows in the background, which changes no answer, only how many rows an answer reads.

``evaluate_series`` answers the total of each local day or week of a period from the same SQL
in one pass (``cityops_evaluation_series``, of which ``cityops_evaluation`` is the one-bucket
call): a trend's point and the evaluation of its span cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

COUNTS = (
    "filed",
    "closed",
    "closed_on_time",
    "handled",
    "handled_on_time",
    "handling_s",
    "checked",
    "reworked",
    "dispatched",
    "returned",
    "moves",
    "late_moves",
    "escalated",
    "reopened",
    "supervised",
)
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
EVALUATE = "SELECT * FROM cityops_evaluation(%s, %s, %s, %s, %s)"
SATISFACTION = "SELECT * FROM cityops_satisfaction(%s, %s, %s, %s, %s)"
EVALUATE_SERIES = "SELECT * FROM cityops_evaluation_series(%s, %s, %s, %s, %s, %s, %s)"
SATISFACTION_SERIES = "SELECT * FROM cityops_satisfaction_series(%s, %s, %s, %s, %s, %s, %s)"
FOLD = "SELECT cityops_evaluation_rollup_fold()"
UNIT_NAMES = "SELECT id::text, code, name FROM unit WHERE id = ANY(%s::bigint[])"


class By(StrEnum):
    """The three evaluation objects of GB/T 30428: area, department, position (role)."""

    area = "area"
    department = "department"
    role = "role"


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


# metric: (formula as documented, how it is computed from the counts)
FORMULAS: dict[str, tuple[str, Callable[[dict[str, float]], float | None]]] = {
    "closure_rate": (
        "closed / filed (cases closed in the period over cases filed in it; a backlog cleared can exceed 1)",
        lambda c: _ratio(c["closed"], c["filed"]),
    ),
    "on_time_closure_rate": (
        "closed at or before the handling deadline / closed",
        lambda c: _ratio(c["closed_on_time"], c["closed"]),
    ),
    "on_time_handling_rate": (
        "feedback at or before the handling deadline / feedback given",
        lambda c: _ratio(c["handled_on_time"], c["handled"]),
    ),
    "rework_rate": (
        "rework / (close + rework): checks that sent the work back",
        lambda c: _ratio(c["reworked"], c["checked"]),
    ),
    "return_rate": (
        "return / dispatch: dispatches sent back by the receiver",
        lambda c: _ratio(c["returned"], c["dispatched"]),
    ),
    "mean_handling_hours": (
        "mean over feedback of (feedback time − the case's latest dispatch), wall-clock hours",
        lambda c: None if not c["handled"] else round(c["handling_s"] / c["handled"] / 3600, 2),
    ),
    "overdue": (
        "moves made after their stage's due time (late acceptance, filing, dispatch, acknowledgement, "
        "feedback, check, approval)",
        lambda c: c["late_moves"],
    ),
    "repeat_case_rate": (
        "reopen / close: closed cases that came back (reporter unsatisfied, problem recurred)",
        lambda c: _ratio(c["reopened"], c["closed"]),
    ),
    "satisfaction_rate": (
        "(满意 + 基本满意) / ratings given in the period",
        lambda c: _ratio(
            c["satisfied"] + c["basically_satisfied"], c["satisfied"] + c["basically_satisfied"] + c["unsatisfied"]
        ),
    ),
}


@dataclass(frozen=True)
class Period:
    """What to evaluate: a unit's subtree, a half-open period, a grouping, optionally one department."""

    unit_id: int
    start: datetime
    end: datetime
    by: By
    department: str | None = None


def _row(key: str, label: str, counts: dict[str, float]) -> dict[str, object]:
    metrics = {name: compute(counts) for name, (_, compute) in FORMULAS.items()}
    return {"key": key, "name": label, **{k: counts[k] for k in (*COUNTS, *RATINGS)}, **metrics}


def _counts(evaluated: Iterable[Sequence], rated: Iterable[Sequence]) -> dict[str, dict[str, float]]:
    """Counts per group key from the evaluation's rows and the satisfaction's rows (key first in each)."""
    empty = dict.fromkeys((*COUNTS, *RATINGS), 0)
    counts: dict[str, dict[str, float]] = {}
    for key, *values in evaluated:
        counts[key] = empty | dict(zip(COUNTS, values, strict=True))
    for key, *values in rated:
        counts.setdefault(key, dict(empty)).update(zip(RATINGS, values, strict=True))
    return counts


def _total(counts: dict[str, dict[str, float]]) -> dict[str, object]:
    """The total row: every count summed over the groups, every metric from those sums.

    Summed in the order of the group keys, not the database's: a float sum (handling seconds)
    depends on its order, and the same groups must give the same total whichever pass grouped them.
    """
    ordered = [counts[key] for key in sorted(counts)]
    return _row("total", "total", {k: sum(c[k] for c in ordered) for k in (*COUNTS, *RATINGS)})


async def evaluate(conn: psycopg.AsyncConnection, period: Period) -> dict[str, Any]:
    """Rows per group and a total row, with every metric and the formulas used."""
    params = (period.unit_id, period.start, period.end, period.by.value, period.department)
    counts = _counts(
        await (await conn.execute(EVALUATE, params)).fetchall(),
        await (await conn.execute(SATISFACTION, params)).fetchall(),
    )
    names = {key: (key, key or "(none)") for key in counts}  # (key shown, name shown)
    if period.by is By.area:
        units = await (await conn.execute(UNIT_NAMES, ([int(k) for k in counts],))).fetchall()
        names |= {unit_id: (code, name) for unit_id, code, name in units}
    return {
        "unit_id": period.unit_id,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "by": period.by.value,
        "department": period.department,
        "rows": [_row(*names[k], c) for k, c in sorted(counts.items(), key=lambda kv: names[kv[0]])],
        "total": _total(counts),
        "formulas": {name: formula for name, (formula, _) in FORMULAS.items()},
    }


async def evaluate_series(
    conn: psycopg.AsyncConnection, period: Period, step: str, zone: ZoneInfo
) -> dict[date, dict[str, object]]:
    """The total row of each local day (or week from Monday) of ``zone`` within the period, in one pass.

    Each equals ``evaluate(...)["total"]`` over that day or week clipped to the period. Only buckets
    with a transition or a rating are answered: a missing one is ``total_of_nothing()``.
    """
    params = (period.unit_id, period.start, period.end, period.by.value, period.department, step, zone.key)
    evaluated: defaultdict[date, list[Sequence]] = defaultdict(list)
    rated: defaultdict[date, list[Sequence]] = defaultdict(list)
    for bucket, *row in await (await conn.execute(EVALUATE_SERIES, params)).fetchall():
        evaluated[bucket].append(row)
    for bucket, *row in await (await conn.execute(SATISFACTION_SERIES, params)).fetchall():
        rated[bucket].append(row)
    return {bucket: _total(_counts(evaluated[bucket], rated[bucket])) for bucket in evaluated.keys() | rated.keys()}


def total_of_nothing() -> dict[str, object]:
    """The total row of a span without a transition or a rating: zero counts, no rates."""
    return _total({})
