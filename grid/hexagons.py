"""Counts on H3 hexagons: the planner's layer, and the command map's picture of a whole city.

Cases and force positions keep their H3 cell at the locate resolution (migration 0004, 0013);
the count at any coarser resolution groups them by their parent cell, which the database
computes by bit arithmetic (``cityops_h3_parent``, migration 0016), so a city of 100k cases
becomes a few hundred hexagons in one pass, whatever the zoom. The caller's scope (row-level
security) decides which rows count; filters narrow it to categories, states and a time window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import h3
import psycopg

from grid.cells import cell_polygon
from spatial.errors import InvalidInputError
from spatial.sources import SOURCES

MIN_RESOLUTION, MAX_RESOLUTION = 4, 10
MAX_HEXAGONS = 20_000
OPEN = "e.state NOT IN ('closed', 'void')"
CASES = f"""
SELECT cityops_h3_parent(e.cell, %(resolution)s), count(*), count(*) FILTER (WHERE {OPEN}),
       count(*) FILTER (WHERE {OPEN} AND e.deadline < now()), max(e.severity)::text,
       mode() WITHIN GROUP (ORDER BY e.category_code)
FROM {{source}} WHERE {{where}}
GROUP BY 1 LIMIT %(cap)s
"""
# the map's question — open cases in a view — by the index, the scope applied inside (migration 0016)
OPEN_IN_BOX = "cityops_case_points(ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)) e"
FORCES = """
SELECT cityops_h3_parent(p.cell, %(resolution)s), count(*), count(*) FILTER (WHERE p.status = 'available'),
       count(*) FILTER (WHERE p.status IN ('assigned', 'en_route', 'on_scene')), NULL::text, NULL::text
FROM force_position p WHERE {where}
GROUP BY 1 LIMIT %(cap)s
"""
# "reported": every case that was not voided (an analysis counts what happened, not rejected reports)
STATE_SQL = {"open": OPEN, "closed": f"NOT ({OPEN})", "reported": "e.state <> 'void'", "all": "true"}
STATES = tuple(STATE_SQL)


@dataclass(frozen=True)
class HexFilter:
    """Which rows count: the caller's unit, an area, categories (code prefixes), sources, state, filing window."""

    scope_unit: int
    resolution: int
    bbox: tuple[float, float, float, float] | None = None
    categories: tuple[str, ...] = ()
    state: str = "open"
    since: datetime | None = None
    until: datetime | None = None
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not MIN_RESOLUTION <= self.resolution <= MAX_RESOLUTION:
            raise InvalidInputError(f"resolution must be {MIN_RESOLUTION}…{MAX_RESOLUTION}, got {self.resolution}")
        if self.state not in STATES:
            raise InvalidInputError(f"state must be one of {', '.join(STATES)}, got {self.state!r}")
        if self.since and self.until and self.since >= self.until:
            raise InvalidInputError("since must be before until")
        if unknown := set(self.sources) - set(SOURCES):
            raise InvalidInputError(f"unknown source {', '.join(sorted(unknown))}; one of {', '.join(SOURCES)}")

    @property
    def open_in_box(self) -> bool:
        """Whether this is the map's question (open cases in a view), which has an indexed path."""
        return self.bbox is not None and self.state == "open"

    def where(self, alias: str, *, cases: bool) -> tuple[str, dict[str, object]]:
        """SQL conditions on ``alias`` and their parameters (every value bound)."""
        conditions = [f"{alias}.units @> ARRAY[%(scope)s::bigint]"]
        params: dict[str, object] = {"scope": self.scope_unit, "resolution": self.resolution, "cap": MAX_HEXAGONS + 1}
        if self.bbox is not None:
            params.update(zip(("w", "s", "e", "n"), self.bbox, strict=True))
        if cases and self.open_in_box:  # the source holds only the caller's open cases in the box
            conditions = ["true"]
        elif self.bbox is not None:  # under row-level security: one pass over the scope's rows
            conditions.append(f"{alias}.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)")
        if cases:
            if not self.open_in_box:
                conditions.append(STATE_SQL[self.state])
            if self.categories:
                conditions.append("e.category_code LIKE ANY(%(categories)s)")
                params["categories"] = [f"{prefix}%" for prefix in self.categories]
            if self.sources:
                conditions.append("e.source = ANY(%(sources)s::report_source[])")
                params["sources"] = list(self.sources)
            for name, sql in (("since", "e.filed_at >= %(since)s"), ("until", "e.filed_at < %(until)s")):
                if getattr(self, name) is not None:
                    conditions.append(sql)
                    params[name] = getattr(self, name)
        return " AND ".join(conditions), params


def _feature(row: tuple, layer: str) -> dict[str, object]:
    cell, total, first, second, severity, category = row
    index = h3.int_to_str(cell)
    counts = {"open": first, "overdue": second} if layer == "cases" else {"available": first, "busy": second}
    properties = {"h3": index, "count": total, **counts}
    if layer == "cases":
        properties |= {"severity": severity, "top_category": category}
    return {"type": "Feature", "id": index, "geometry": cell_polygon(index), "properties": properties}


async def _rows(conn: psycopg.AsyncConnection, layer: str, filter_: HexFilter) -> list[tuple]:
    where, params = filter_.where("e" if layer == "cases" else "p", cases=layer == "cases")
    source = OPEN_IN_BOX if filter_.open_in_box else "case_file e"
    sql = CASES.format(source=source, where=where) if layer == "cases" else FORCES.format(where=where)
    rows = await (await conn.execute(sql, params)).fetchall()
    if len(rows) > MAX_HEXAGONS:
        raise InvalidInputError(f"more than {MAX_HEXAGONS} hexagons: choose a coarser resolution or a smaller bbox")
    return rows


async def hexagons(conn: psycopg.AsyncConnection, layer: str, filter_: HexFilter) -> list[dict[str, object]]:
    """GeoJSON features, one per hexagon holding at least one counted row."""
    return [_feature(row, layer) for row in await _rows(conn, layer, filter_)]


async def case_counts(conn: psycopg.AsyncConnection, filter_: HexFilter) -> dict[int, int]:
    """Cases per cell (the cells holding any), for statistics over them."""
    return {int(row[0]): int(row[1]) for row in await _rows(conn, "cases", filter_)}
