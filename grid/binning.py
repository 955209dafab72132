"""Cases binned for analysis: per H3 cell and time step, per unit of a tier, by category or source.

The period is cut into equal steps (``steps`` of them, the first starting at ``since``), so a trend
over steps compares like with like whatever the window. The database does the counting — one
pass over the caller's rows under row-level security — and hands back only the bins.

A count — hot spots' per cell, bins per cell or per district or street, by category or source —
reads the period's whole days from ``case_cell_day`` (cases per day, resolution-8 cell, street
chain, category and source; migration 0057) and only the rest from the cases: the ragged ends of
the period and any day a step boundary cuts. Each day read whole lies inside one step, so its
cases fall in that step either way: the two routes give the same counts
(``tests/test_case_cell_day.py``). Finer cells or units, and a department's caller, count the cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import h3
import psycopg

from grid.hexagons import HexFilter
from spatial.errors import InvalidInputError
from spatial.tiers import Tier

BIN_TIERS = (Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY, Tier.GRID)
GROUPS = {"none": "NULL::text", "category": "{t}.category_code::text", "source": "{t}.source::text"}
MAX_STEPS = 60
# date_part is double precision (extract is numeric since PostgreSQL 14: 4 times slower over a million rows)
STEP = "least(floor(date_part('epoch', e.filed_at - %(since)s) / %(width)s), %(last)s)::int"
ROLLUP_RESOLUTION = 8  # case_cell_day's cells: a count by cell at it or coarser can read whole days from it
ROLLUP_TIER = Tier.STREET  # case_cell_day's chains end at the third unit: a street's or above's counts may read it
# whether case_cell_day answers for this caller, unit and key as case_file would: its rows carry no department
# and only the first three units of a case's chain (a scope, unit or counted tier deeper is finer than it:
# Jiangbei New Area's streets are fourth, under the area and their district)
ROLLUP_SERVES = """
SELECT cityops_scope_department() IS NULL
   AND (SELECT cardinality(ancestors) < 3 FROM unit WHERE id = %(scope)s)
   AND coalesce((SELECT cardinality(ancestors) < 3 FROM unit WHERE id = cityops_scope_unit()), true)
   AND NOT EXISTS (SELECT FROM unit u WHERE u.tier = %(tier)s::tier AND cardinality(u.ancestors) >= 3
                   AND u.ancestors @> ARRAY[%(scope)s::bigint]),
   cityops_rollup_zone()
"""
FOLD = "SELECT cityops_case_cell_day_fold()"
# each unit's area measured once, not once a bin (materialized: inlined, a district's geodesic area ~1 ms was
# measured for each of a year's 7,632 district × category × month bins, 7 of its 8.5 s)
UNIT_BINS = """
WITH c(id, grp, step, n) AS ({counted}),
places AS MATERIALIZED (SELECT u.id, u.code, u.name, ST_Area(u.geom::geography) / 1e6 AS km2 FROM unit u
           WHERE u.id IN (SELECT id FROM c))
SELECT p.code, p.name, c.step, c.grp, c.n, p.km2 FROM c JOIN places p ON p.id = c.id
ORDER BY p.code, c.step, c.grp
"""
# a population proxy: buildings standing in each cell (their point on surface), under the unit
BUILDINGS = """
SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(b.geom) AS p FROM unit b
WHERE b.tier = 'building' AND b.ancestors @> ARRAY[%s::bigint]) s
"""


@dataclass(frozen=True)
class Steps:
    """``count`` equal steps from ``since`` to ``until``."""

    since: datetime
    until: datetime
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_STEPS:
            raise InvalidInputError(f"steps must be 1…{MAX_STEPS}, got {self.count}")

    @property
    def width(self) -> timedelta:
        """How long one step is."""
        return (self.until - self.since) / self.count

    @property
    def starts(self) -> list[datetime]:
        """Where each step begins."""
        return [self.since + i * self.width for i in range(self.count)]

    def params(self) -> dict[str, object]:
        """The bound values of the step expression."""
        return {"since": self.since, "width": self.width.total_seconds(), "last": self.count - 1}

    def index(self, moment: datetime) -> int:
        """The step a moment falls in, computed as the database's ``STEP`` does (the same double arithmetic)."""
        return min(math.floor((moment - self.since).total_seconds() / self.width.total_seconds()), self.count - 1)


@dataclass
class DayPlan:
    """Which days of a period are read whole from the rollup (with their step), which spans from the cases."""

    days: list[date] = field(default_factory=list)
    day_steps: list[int] = field(default_factory=list)
    raw: list[tuple[datetime, datetime]] = field(default_factory=list)

    def spans(self) -> str:
        """The condition of the cases read one by one: each span its own range, so the planner sees each one's
        size and reads them by the filing-time index (an array of them joined hid their sizes: a full scan)."""
        spans = [f"(e.filed_at >= %(from_{i})s AND e.filed_at < %(to_{i})s)" for i in range(len(self.raw))]
        return " OR ".join(spans) or "false"

    def params(self) -> dict[str, object]:
        """The bound values of the spans and days ``counted`` reads."""
        spans = {f"from_{i}": a for i, (a, _) in enumerate(self.raw)} | {
            f"to_{i}": b for i, (_, b) in enumerate(self.raw)
        }
        return {"days": self.days, "day_steps": self.day_steps} | spans


def day_plan(steps: Steps, zone: ZoneInfo) -> DayPlan:
    """The zone's days lying wholly inside the period and inside one step go to the rollup; every other
    moment of the period (its ends, a day a step boundary cuts) is read from the cases, in merged spans."""
    plan = DayPlan()
    start = steps.since
    day = steps.since.astimezone(zone).date()
    while True:
        begins = datetime.combine(day, time(), zone)
        ends = datetime.combine(day + timedelta(days=1), time(), zone)
        if ends > steps.until:
            break
        step = steps.index(begins)
        if begins >= steps.since and step == steps.index(ends - timedelta(microseconds=1)):
            if start < begins:
                plan.raw.append((start, begins))
            plan.days.append(day)
            plan.day_steps.append(step)
            start = ends
        day += timedelta(days=1)
    if start < steps.until:
        plan.raw.append((start, steps.until))
    return plan


@dataclass(frozen=True)
class Key:
    """What cases are counted by — a cell at the filter's resolution, or a unit of a tier (each unit of the
    case's chain that is of the tier) — and split by (``GROUPS``); written for the cases (``e``, their chain
    ``units``) or the rollup (``r``, its chain ``area``)."""

    tier: Tier | None = None
    group: str = "none"

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise InvalidInputError(f"group must be one of {', '.join(GROUPS)}, got {self.group!r}")

    def rolls_up(self, resolution: int) -> bool:
        """Whether case_cell_day holds what this key needs."""
        return resolution <= ROLLUP_RESOLUTION if self.tier is None else self.tier.depth <= ROLLUP_TIER.depth

    def columns(self, t: str) -> str:
        """The key's and the group's expressions."""
        key = "a.id" if self.tier else f"cityops_h3_parent({t}.cell, %(resolution)s)"
        return f"{key}, {GROUPS[self.group].format(t=t)}"

    def source(self, table: str, t: str, chain: str) -> str:
        """The rows the key is read from: a unit key takes each unit of the chain (the tier's, by ``where``)."""
        return f"{table} {t}" + (f" CROSS JOIN LATERAL unnest({t}.{chain}) AS a(id)" if self.tier else "")

    @property
    def params(self) -> dict[str, object]:
        """The bound value of its condition (and of ``ROLLUP_SERVES``'s): the tier, if any."""
        return {"tier": self.tier.value if self.tier else None}

    @property
    def where(self) -> str:
        """The key's own condition."""
        return " AND a.id IN (SELECT id FROM unit WHERE tier = %(tier)s::tier)" if self.tier else ""


def counted(key: Key, where: str, plan: DayPlan | None, rollup_where: str) -> str:
    """SQL of (key, group, step, count) rows: every case counted, or (with a plan) the plan's whole days read
    from the rollup and only its other spans from the cases."""
    if plan is None:
        cases = key.source("case_file", "e", "units")
        return f"SELECT {key.columns('e')}, {STEP}, count(*) FROM {cases} WHERE {where}{key.where} GROUP BY 1, 2, 3"
    days = "unnest(%(days)s::date[], %(day_steps)s::int[]) AS d(day, step) JOIN "
    return f"""
SELECT c.key, c.grp, c.step, sum(c.n)::bigint FROM (
    SELECT {key.columns("r")}, d.step, r.cases FROM {days}{key.source("case_cell_day", "r", "area")} ON r.day = d.day
    WHERE {rollup_where}{key.where}
    UNION ALL
    SELECT {key.columns("e")}, {STEP}, 1 FROM {key.source("case_file", "e", "units")}
    WHERE ({plan.spans()}) AND {where}{key.where}
) c(key, grp, step, n) GROUP BY 1, 2, 3
"""


async def _count(
    conn: psycopg.AsyncConnection, filter_: HexFilter, steps: Steps, key: Key, rollup: bool, wrap: str = "{counted}"
) -> list[tuple]:
    if (filter_.since, filter_.until) != (steps.since, steps.until):
        raise ValueError("the filter's window and the steps' period must be the same")
    where, params = filter_.where("e", cases=True)
    params |= steps.params() | key.params
    plan = await _rollup_plan(conn, filter_, steps, key) if rollup and key.rolls_up(filter_.resolution) else None
    if plan is not None:
        params |= plan.params()
    sql = counted(key, where, plan, _rollup_where(filter_))
    return await (await conn.execute(wrap.format(counted=sql), params)).fetchall()


async def counts_by_step(
    conn: psycopg.AsyncConnection, filter_: HexFilter, steps: Steps, *, rollup: bool = True
) -> dict[tuple[int, int], int]:
    """Cases per (cell at the filter's resolution, step index), for the cells holding any; whole days from the
    rollup where it answers as the cases would (``rollup=False``: every case read, the benchmark's baseline)."""
    rows = await _count(conn, filter_, steps, Key(), rollup)
    return {(int(cell), int(step)): int(n) for cell, _, step, n in rows}


async def _rollup_plan(conn: psycopg.AsyncConnection, filter_: HexFilter, steps: Steps, key: Key) -> DayPlan | None:
    if filter_.state != "reported" or filter_.bbox is not None:
        return None
    asked = {"scope": filter_.scope_unit} | key.params
    serves, zone = (await (await conn.execute(ROLLUP_SERVES, asked)).fetchone()) or (0, 0)
    plan = day_plan(steps, ZoneInfo(zone)) if serves else None
    return plan if plan and plan.days else None


def _rollup_where(filter_: HexFilter) -> str:
    conditions = ["r.area @> ARRAY[%(scope)s::bigint]"]
    if filter_.categories:
        conditions.append("r.category_code LIKE ANY(%(categories)s)")
    if filter_.sources:
        conditions.append("r.source = ANY(%(sources)s::report_source[])")
    return " AND ".join(conditions)


async def bins(
    conn: psycopg.AsyncConnection,
    filter_: HexFilter,
    steps: Steps,
    *,
    by: str,
    group: str,
    scope_tier: str,
    rollup: bool = True,
) -> list[dict[str, object]]:
    """Rows of (key, name, step start, group, count, per km²): cases per cell or per unit of the tier ``by``."""
    starts = steps.starts
    if by == "cell":
        rows = await _count(conn, filter_, steps, Key(None, group), rollup, "{counted} ORDER BY 1, 3, 2")
        return [
            {
                "key": h3.int_to_str(cell),
                "name": None,
                "step": starts[step].isoformat(),
                "group": grp,
                "count": n,
                "per_km2": round(n / h3.cell_area(h3.int_to_str(cell), "km^2"), 3),
            }
            for cell, grp, step, n in rows
        ]
    if by not in BIN_TIERS:
        raise InvalidInputError(f"by must be cell or one of {', '.join(BIN_TIERS)}, got {by!r}")
    if Tier(by).depth < Tier(scope_tier).depth:
        raise InvalidInputError(f"by={by} is above the unit analysed ({scope_tier}): choose its tier or one below")
    rows = await _count(conn, filter_, steps, Key(Tier(by), group), rollup, UNIT_BINS)
    return [
        {
            "key": code,
            "name": name,
            "step": starts[step].isoformat(),
            "group": grp,
            "count": n,
            "per_km2": round(n / area, 3) if area else None,
        }
        for code, name, step, grp, n, area in rows
    ]


async def buildings_per_cell(conn: psycopg.AsyncConnection, unit_id: int, resolution: int) -> dict[int, int]:
    """How many buildings stand in each cell of the unit: the population proxy of rate-based hot spots."""
    per_cell: dict[int, int] = {}
    for lon, lat in await (await conn.execute(BUILDINGS, (unit_id,))).fetchall():
        cell = h3.str_to_int(h3.latlng_to_cell(lat, lon, resolution))
        per_cell[cell] = per_cell.get(cell, 0) + 1
    return per_cell
