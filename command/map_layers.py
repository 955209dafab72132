"""What the command map draws besides cases and forces: unit names, open cases per unit, the daily flow.

A map without a basemap is grey lines until it names its places, so each tier's names are written
at the zoom where that tier's units are a readable size (districts at city zoom, streets from 12,
communities from 14, grids from 16), at each unit's label point (migration 0024). Zoomed out, a
commander reads counts, not a carpet of dots: open and overdue cases per district (city zoom) or
street (district zoom), counted under the caller's scope; a caller below that tier sees their own
unit. The KPI panel's trend is the caller's cases reported and closed per Beijing day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from command.users import User
from spatial.tiers import Tier

MAX_ZOOM = 22
MAX_LABELS = 2000
MAX_UNITS = 2000
# each tier's names from the first zoom (inclusive) to the last (exclusive)
LABEL_ZOOMS: dict[Tier, tuple[int, int]] = {
    Tier.DISTRICT: (0, 12),
    Tier.STREET: (12, 15),
    Tier.COMMUNITY: (14, 17),
    Tier.GRID: (16, MAX_ZOOM + 1),
}
# below each zoom, cases are counted per unit of the tier beside it (district at city zoom …)
COUNT_ZOOMS: tuple[tuple[int, Tier], ...] = ((11, Tier.DISTRICT), (13, Tier.STREET), (15, Tier.COMMUNITY))
BOX = "ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)"
LABELS_SQL = f"""
SELECT code, name, tier::text, ST_X(label_point), ST_Y(label_point) FROM unit
WHERE tier = ANY(%(tiers)s::tier[]) AND label_point && {BOX}
ORDER BY tier, area_m2 DESC LIMIT %(cap)s
"""
# the units of a tier in the view, within the caller's subtree
UNITS_SQL = f"""
SELECT id, code, name, tier::text, ST_X(label_point), ST_Y(label_point) FROM unit
WHERE tier = %(tier)s::tier AND geom && {BOX} AND (id = %(scope)s OR %(scope)s = ANY(ancestors))
ORDER BY area_m2 DESC LIMIT %(cap)s
"""
OWN_UNIT_SQL = f"""
SELECT id, code, name, tier::text, ST_X(label_point), ST_Y(label_point) FROM unit
WHERE id = %(scope)s AND geom && {BOX}
"""
COUNTS_SQL = "SELECT unit_id, open, overdue FROM cityops_open_case_counts(%s)"
FLOW_SQL = "SELECT day, reported, closed FROM cityops_daily_flow(%s, %s)"


def label_tiers(zoom: int) -> list[Tier]:
    """The tiers whose names suit ``zoom``."""
    return [tier for tier, (first, last) in LABEL_ZOOMS.items() if first <= zoom < last]


def count_tier(zoom: int) -> Tier:
    """The tier cases are counted by at ``zoom``."""
    return next((tier for below, tier in COUNT_ZOOMS if zoom < below), Tier.GRID)


def _box(bbox: tuple[float, float, float, float]) -> dict[str, float]:
    return dict(zip(("w", "s", "e", "n"), bbox, strict=True))


async def unit_labels(
    conn: psycopg.AsyncConnection, bbox: tuple[float, float, float, float], zoom: int
) -> dict[str, object]:
    """Names to write in the view: code, name, tier and label point, largest units first (public geography)."""
    tiers = label_tiers(zoom)
    params = {**_box(bbox), "tiers": [t.value for t in tiers], "cap": MAX_LABELS + 1}
    rows = await (await conn.execute(LABELS_SQL, params)).fetchall()
    labels = [
        {"code": code, "name": name, "tier": tier, "lon": round(x, 6), "lat": round(y, 6)}
        for code, name, tier, x, y in rows[:MAX_LABELS]
    ]
    return {"zoom": zoom, "tiers": [t.value for t in tiers], "labels": labels, "truncated": len(rows) > MAX_LABELS}


async def unit_case_counts(
    conn: psycopg.AsyncConnection, user: User, bbox: tuple[float, float, float, float], zoom: int
) -> dict[str, object]:
    """Open and overdue cases per unit of the zoom's tier in the view (the caller's own unit when it is
    below that tier); ``conn`` carries the caller's scope, which the count applies."""
    tier = count_tier(zoom)
    params = {**_box(bbox), "tier": tier.value, "scope": user.unit_id, "cap": MAX_UNITS}
    sql = OWN_UNIT_SQL if Tier(user.unit_tier).depth > tier.depth else UNITS_SQL
    units = await (await conn.execute(sql, params)).fetchall()
    ids = [row[0] for row in units]
    counted = {uid: (n, late) for uid, n, late in await (await conn.execute(COUNTS_SQL, (ids,))).fetchall()}
    listed = [
        {
            "code": code,
            "name": name,
            "tier": tier_,
            "lon": round(x, 6),
            "lat": round(y, 6),
            "open": counted.get(uid, (0, 0))[0],
            "overdue": counted.get(uid, (0, 0))[1],
        }
        for uid, code, name, tier_, x, y in units
    ]
    return {
        "zoom": zoom,
        "tier": tier.value if sql is UNITS_SQL else user.unit_tier,
        "units": listed,
        "total": {"open": sum(u["open"] for u in listed), "overdue": sum(u["overdue"] for u in listed)},
    }


@dataclass(frozen=True)
class FlowDay:
    """One Beijing day of the caller's cases: reported (created) and closed."""

    day: date
    reported: int
    closed: int


async def daily_flow(conn: psycopg.AsyncConnection, days: int, zone: ZoneInfo, now: datetime) -> list[FlowDay]:
    """The last ``days`` days (today included) in ``zone``, every day present (zero when quiet)."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=zone)
    rows = await (await conn.execute(FLOW_SQL, (since, zone.key))).fetchall()
    found = {day: (reported, closed) for day, reported, closed in rows}
    return [FlowDay(first + timedelta(days=i), *found.get(first + timedelta(days=i), (0, 0))) for i in range(days)]
