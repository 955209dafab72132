"""Cases binned for analysis: per H3 cell and time step, per unit of a tier, by category or source.

The period is cut into equal steps (``steps`` of them, the first starting at ``since``), so a trend
over steps compares like with like whatever the window. The database does the counting — one
pass over the caller's rows under row-level security — and hands back only the bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import h3
import psycopg

from grid.hexagons import HexFilter
from spatial.errors import InvalidInputError
from spatial.tiers import Tier

BIN_TIERS = (Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY, Tier.GRID)
GROUPS = {"none": "NULL::text", "category": "e.category_code", "source": "e.source::text"}
MAX_STEPS = 60
# date_part is double precision (extract is numeric since PostgreSQL 14: 4 times slower over a million rows)
STEP = "least(floor(date_part('epoch', e.filed_at - %(since)s) / %(width)s), %(last)s)::int"
CELL_STEPS = f"""
SELECT cityops_h3_parent(e.cell, %(resolution)s), {STEP}, count(*) FROM case_file e WHERE {{where}} GROUP BY 1, 2
"""
UNIT_BINS = f"""
SELECT u.code, u.name, c.step, c.grp, c.n, ST_Area(u.geom::geography) / 1e6
FROM (SELECT a.id, {STEP} AS step, {{group}} AS grp, count(*) AS n
      FROM case_file e CROSS JOIN LATERAL unnest(e.units) AS a(id)
      WHERE {{where}} AND a.id IN (SELECT id FROM unit WHERE tier = %(tier)s::tier) GROUP BY 1, 2, 3) c
JOIN unit u ON u.id = c.id
ORDER BY u.code, c.step, c.grp
"""
CELL_BINS = f"""
SELECT cityops_h3_parent(e.cell, %(resolution)s), {STEP}, {{group}}, count(*) FROM case_file e WHERE {{where}}
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
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


def _where(filter_: HexFilter, steps: Steps) -> tuple[str, dict[str, object]]:
    if (filter_.since, filter_.until) != (steps.since, steps.until):
        raise ValueError("the filter's window and the steps' period must be the same")
    where, params = filter_.where("e", cases=True)
    return where, params | steps.params()


async def counts_by_step(conn: psycopg.AsyncConnection, filter_: HexFilter, steps: Steps) -> dict[tuple[int, int], int]:
    """Cases per (cell at the filter's resolution, step index), for the cells holding any."""
    where, params = _where(filter_, steps)
    rows = await (await conn.execute(CELL_STEPS.format(where=where), params)).fetchall()
    return {(int(cell), int(step)): int(n) for cell, step, n in rows}


async def bins(
    conn: psycopg.AsyncConnection, filter_: HexFilter, steps: Steps, *, by: str, group: str, scope_tier: str
) -> list[dict[str, object]]:
    """Rows of (key, name, step start, group, count, per km²): cases per cell or per unit of the tier ``by``."""
    if group not in GROUPS:
        raise InvalidInputError(f"group must be one of {', '.join(GROUPS)}, got {group!r}")
    where, params = _where(filter_, steps)
    starts = steps.starts
    if by == "cell":
        rows = await (await conn.execute(CELL_BINS.format(where=where, group=GROUPS[group]), params)).fetchall()
        return [
            {
                "key": h3.int_to_str(cell),
                "name": None,
                "step": starts[step].isoformat(),
                "group": grp,
                "count": n,
                "per_km2": round(n / h3.cell_area(h3.int_to_str(cell), "km^2"), 3),
            }
            for cell, step, grp, n in rows
        ]
    if by not in BIN_TIERS:
        raise InvalidInputError(f"by must be cell or one of {', '.join(BIN_TIERS)}, got {by!r}")
    if Tier(by).depth < Tier(scope_tier).depth:
        raise InvalidInputError(f"by={by} is above the unit analysed ({scope_tier}): choose its tier or one below")
    sql = UNIT_BINS.format(where=where, group=GROUPS[group])
    rows = await (await conn.execute(sql, params | {"tier": by})).fetchall()
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
