"""The wall display's figures (大屏): what the centre's big screen shows besides the live map.

One call gives a wall everything it refreshes every minute, read under the caller's scope:
per district today's intake, open and overdue cases, the last ``days`` days' closure and on-time
rates and the available forces; the daily intake and closures of those days; the categories
reported most. The counts come from migration 0023's functions (indexes, the policies' predicate
applied as the owner); the rates are computed here from the counts, by the formulas in
``FORMULAS``, which the answer carries so a reader can check a figure against its counts.

The ticker's words for cases the live stream announced (new or escalated: when, what, where)
and the map's first picture (the newest open cases and the forces) are read here too, so a
wall asks three questions of the platform and then only listens.

Jurisdiction: a district's wall has one row (its own), the city's wall every district —
江北新区 included, which manages streets whose administrative district is 浦口 or 六合; a case
counts for the district that manages its street (its second unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import psycopg

from command.queries.screen_figures import (
    BY_DAY,
    BY_DISTRICT,
    DISTRICTS,
    FORCES,
    LATEST_ESCALATED,
    LATEST_NEW,
    OPEN_CASES,
    TOLD,
    TOP,
)

MAX_DAYS = 90
MAX_TOP = 20
MAX_TICKER = 50
MAX_CASES = 5000
MAX_FORCES = 5000
COUNTS = ("received_today", "open", "overdue", "filed", "closed", "closed_on_time", "forces_available")


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


# rate: (formula as documented, how it is computed from a row's counts)
FORMULAS = {
    "closure_rate": (
        "closed / filed: cases closed over cases filed (立案) in the last days; a backlog cleared can exceed 1",
        lambda c: _ratio(c["closed"], c["filed"]),
    ),
    "on_time_rate": (
        "closed at or before the deadline in force / closed, in the last days",
        lambda c: _ratio(c["closed_on_time"], c["closed"]),
    ),
}
DEFINITIONS = {
    "received_today": "cases reported since 00:00 Beijing time today, less voided reports",
    "open": "cases neither closed nor voided",
    "overdue": "open cases past their handling deadline",
    "forces_available": "forces whose status is available",
    **{name: formula for name, (formula, _) in FORMULAS.items()},
}


@dataclass(frozen=True)
class Window:
    """What the figures cover: ``days`` days up to ``now`` (``now`` itself in ``zone``), and the top ``top``."""

    now: datetime
    zone: tzinfo
    days: int = 30
    top: int = 8

    @property
    def today(self) -> date:
        """Today in the city's zone."""
        return self.now.astimezone(self.zone).date()

    @property
    def day_start(self) -> datetime:
        """00:00 today in the city's zone."""
        return datetime.combine(self.today, time(), self.zone)

    @property
    def since(self) -> datetime:
        """00:00 of the first of the ``days`` days (today included)."""
        return self.day_start - timedelta(days=self.days - 1)


def _with_rates(counts: dict[str, int]) -> dict[str, Any]:
    return {**counts, **{name: compute(counts) for name, (_, compute) in FORMULAS.items()}}


def _name(language: str, name: str, name_en: str | None) -> str:
    return name_en if language == "en" and name_en else name


async def figures(conn: psycopg.AsyncConnection, unit_id: int, window: Window, language: str) -> dict[str, Any]:
    """The table, the trend and the top categories of the caller's scope (``conn`` carries it)."""
    districts = await (await conn.execute(DISTRICTS, (unit_id,))).fetchall()
    counted = {
        row[0]: dict(zip(COUNTS, row[1:], strict=True))
        for row in await (await conn.execute(BY_DISTRICT, (window.day_start, window.since))).fetchall()
    }
    zero = dict.fromkeys(COUNTS, 0)
    rows = [
        {"code": code, "name": name, "lon": lon, "lat": lat, **_with_rates(counted.get(district, zero))}
        for district, code, name, lon, lat in districts
    ]
    totals = _with_rates({key: sum(int(c[key]) for c in counted.values()) for key in COUNTS})
    by_day = {
        day: (received, closed)
        for day, received, closed in await (await conn.execute(BY_DAY, (window.since, str(window.zone)))).fetchall()
    }
    days = [window.since.date() + timedelta(days=i) for i in range(window.days)]
    trend = [
        {"date": d.isoformat(), "received": by_day.get(d, (0, 0))[0], "closed": by_day.get(d, (0, 0))[1]} for d in days
    ]
    top = await (await conn.execute(TOP, (window.since, window.top))).fetchall()
    return {
        "as_of": window.now.astimezone(window.zone).isoformat(),
        "today": window.today.isoformat(),
        "days": window.days,
        "districts": rows,
        "totals": totals,
        "trend": trend,
        "categories": [
            {"code": code, "name": _name(language, name, name_en), "received": n} for code, name, name_en, n in top
        ],
        "definitions": DEFINITIONS,
    }


def _told(row: tuple[Any, ...], zone: tzinfo, language: str) -> dict[str, Any]:
    case_id, state, version, escalations, filed_at, escalated_at, name, name_en, place = row
    escalated = escalated_at is not None and escalated_at >= filed_at
    return {
        "id": str(case_id),
        "kind": "escalated" if escalated else "new",
        "state": state,
        "version": version,
        "escalations": escalations,
        "at": (escalated_at if escalated else filed_at).astimezone(zone).isoformat(),
        "category": _name(language, name, name_en),
        "place": place or "",
    }


async def ticker(
    conn: psycopg.AsyncConnection, ids: list[int] | None, window: Window, language: str, limit: int = MAX_TICKER
) -> list[dict[str, Any]]:
    """The ticker's lines for ``ids`` (cases the stream announced), or the latest new and escalated cases of the
    last day; newest first, at most ``limit``. Cases outside the scope are not told (row-level security)."""
    if ids is None:
        since = window.now - timedelta(days=1)
        ids = [row[0] for row in await (await conn.execute(LATEST_NEW, (since, limit))).fetchall()]
        ids += [row[0] for row in await (await conn.execute(LATEST_ESCALATED, (since, limit))).fetchall()]
    rows = await (await conn.execute(TOLD, (sorted(set(ids)),))).fetchall()
    items = [_told(row, window.zone, language) for row in rows]
    items.sort(key=lambda item: (item["at"], item["id"]), reverse=True)
    return items[:limit]


async def map_items(conn: psycopg.AsyncConnection, zone: tzinfo, cases: int, forces: int) -> dict[str, Any]:
    """The map's first picture: the ``cases`` newest open cases and the ``forces`` latest force fixes
    (``forces`` 0: none, for a caller who may not see them); the live stream keeps it current."""
    case_rows = await (await conn.execute(OPEN_CASES, (cases,))).fetchall()
    force_rows = await (await conn.execute(FORCES, (forces,))).fetchall() if forces else []
    return {
        "cases": [
            {
                "id": str(i),
                "state": s,
                "version": v,
                "category": c,
                "severity": sev,
                "lon": x,
                "lat": y,
                "deadline": d.astimezone(zone).isoformat(),
                "escalations": n,
            }
            for i, s, v, c, sev, x, y, d, n in case_rows
        ],
        "forces": [
            {
                "id": str(i),
                "status": s,
                "lon": x,
                "lat": y,
                "fixed_at": None if t is None else t.astimezone(zone).isoformat(),
            }
            for i, s, x, y, t in force_rows
        ],
    }
