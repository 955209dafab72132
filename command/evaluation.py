"""Evaluation (综合评价) of a unit's subtree over a period, from the case transitions.

Counts come from one pass of the database over the period's transitions (``cityops_evaluation``),
grouped by the unit's child units (area: each transition belongs to its case's grid), by the
handling department (the one the case was dispatched to), or by the acting role; satisfaction
from the reports rated in the period. Each rate is computed here, by its formula in
``FORMULAS`` — the answer carries them, so a reader can check any figure against the counts.
Periods are half-open, ``[from, to)``; "on time" means at or before the deadline in force when
the move was made (extensions count, parking pauses it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import psycopg

COUNTS = (
    "filed", "closed", "closed_on_time", "handled", "handled_on_time", "handling_s", "checked", "reworked",
    "dispatched", "returned", "moves", "late_moves", "escalated", "reopened", "supervised",
)  # fmt: skip
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
EVALUATE = "SELECT * FROM cityops_evaluation(%s, %s, %s, %s, %s)"
SATISFACTION = "SELECT * FROM cityops_satisfaction(%s, %s, %s, %s, %s)"
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
    "closure_rate": ("closed / filed (cases closed in the period over cases filed in it; a backlog cleared "
                     "can exceed 1)", lambda c: _ratio(c["closed"], c["filed"])),
    "on_time_closure_rate": ("closed at or before the handling deadline / closed",
                             lambda c: _ratio(c["closed_on_time"], c["closed"])),
    "on_time_handling_rate": ("feedback at or before the handling deadline / feedback given",
                              lambda c: _ratio(c["handled_on_time"], c["handled"])),
    "rework_rate": ("rework / (close + rework): checks that sent the work back",
                    lambda c: _ratio(c["reworked"], c["checked"])),
    "return_rate": ("return / dispatch: dispatches sent back by the receiver",
                    lambda c: _ratio(c["returned"], c["dispatched"])),
    "mean_handling_hours": ("mean over feedback of (feedback time − the case's latest dispatch), wall-clock hours",
                            lambda c: None if not c["handled"] else round(c["handling_s"] / c["handled"] / 3600, 2)),
    "overdue": ("moves made after their stage's due time (late acceptance, filing, dispatch, acknowledgement, "
                "feedback, check, approval)", lambda c: c["late_moves"]),
    "repeat_case_rate": ("reopen / close: closed cases that came back (reporter unsatisfied, problem recurred)",
                         lambda c: _ratio(c["reopened"], c["closed"])),
    "satisfaction_rate": ("(满意 + 基本满意) / ratings given in the period",
                          lambda c: _ratio(c["satisfied"] + c["basically_satisfied"],
                                           c["satisfied"] + c["basically_satisfied"] + c["unsatisfied"])),
}  # fmt: skip


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


async def evaluate(conn: psycopg.AsyncConnection, period: Period) -> dict[str, object]:
    """Rows per group and a total row, with every metric and the formulas used."""
    params = (period.unit_id, period.start, period.end, period.by.value, period.department)
    empty = dict.fromkeys((*COUNTS, *RATINGS), 0)
    counts: dict[str, dict[str, float]] = {}
    for key, *values in await (await conn.execute(EVALUATE, params)).fetchall():
        counts[key] = empty | dict(zip(COUNTS, values, strict=True))
    for key, *values in await (await conn.execute(SATISFACTION, params)).fetchall():
        counts.setdefault(key, dict(empty)).update(zip(RATINGS, values, strict=True))
    names = {key: (key, key or "(none)") for key in counts}  # (key shown, name shown)
    if period.by is By.area:
        units = await (await conn.execute(UNIT_NAMES, ([int(k) for k in counts],))).fetchall()
        names |= {unit_id: (code, name) for unit_id, code, name in units}
    total = {k: sum(c[k] for c in counts.values()) for k in (*COUNTS, *RATINGS)}
    return {
        "unit_id": period.unit_id, "from": period.start.isoformat(), "to": period.end.isoformat(),
        "by": period.by.value, "department": period.department,
        "rows": [_row(*names[k], c) for k, c in sorted(counts.items(), key=lambda kv: names[kv[0]])],
        "total": _row("total", "total", total),
        "formulas": {name: formula for name, (formula, _) in FORMULAS.items()},
    }  # fmt: skip
