"""A month of the platform's public figures, computed from its own data (regulation art. 13).

``month_figures`` reads one month (the city's local calendar month) and returns what a publication
freezes: each live scenario's indicators city-wide and per district, the case counts of every
district and street by category, the districts' outlines for the public map, and the public points.

What may leave the platform is decided here, once:

- indicators and counts are aggregates; rates carry their numerator and denominator, so a reader can
  check them;
- points come only from categories not marked sensitive, and carry the centre of the case's H3
  resolution-8 cell (~0.7 km²) — never the reported position, a description, an address, a
  reporter, a photo or even the case's number. Sensitive categories appear in counts only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import h3
import orjson
import psycopg
from psycopg.rows import dict_row

from command.working_time import CHINA
from exchange.queries.public_figures import DISTRICTS, PUBLIC_POINTS, SCENARIO_FIGURES, UNIT_CATEGORY_COUNTS
from spatial.errors import InvalidInputError

PUBLIC_RESOLUTION = 8
COORDINATE_DECIMALS = 6


@dataclass(frozen=True)
class Month:
    """A calendar month in the city's zone: ``[start, end)`` between two local midnights."""

    first_day: date

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM``, or InvalidInputError saying so."""
        try:
            moment = datetime.strptime(text, "%Y-%m")
        except ValueError:
            raise InvalidInputError(f"month {text!r} must read YYYY-MM, e.g. 2026-11") from None
        return cls(moment.date())

    @property
    def label(self) -> str:
        """``YYYY-MM``."""
        return self.first_day.strftime("%Y-%m")

    @property
    def start(self) -> datetime:
        """The month's first local midnight."""
        return datetime.combine(self.first_day, time(0), CHINA)

    @property
    def end(self) -> datetime:
        """The next month's first local midnight."""
        year, month = divmod(self.first_day.year * 12 + self.first_day.month, 12)
        return datetime.combine(date(year, month + 1, 1), time(0), CHINA)

    def is_over(self, now: datetime) -> bool:
        """Whether the month has ended: only an ended month can be published."""
        return now >= self.end


def _rate(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def indicators(row: dict[str, Any]) -> dict[str, Any]:
    """The public indicators of one scenario (and district), with the counts they come from."""
    closed = row["closed"]
    return {
        "received": row["received"],
        "closed": closed,
        "closed_on_time": row["closed_on_time"],
        "on_time_rate": _rate(row["closed_on_time"], closed),
        "average_handling_hours": round(float(row["handling_s"]) / closed / 3600, 1) if closed else None,
        "rated": row["rated"],
        "satisfied": row["satisfied"],
        "satisfaction_rate": _rate(row["satisfied"], row["rated"]),
    }


def public_point(cell: int) -> tuple[float, float]:
    """The centre of ``cell``'s resolution-8 parent, as (lon, lat) to six decimals: all a point may tell."""
    parent = h3.cell_to_parent(h3.int_to_str(cell), PUBLIC_RESOLUTION)
    lat, lon = h3.cell_to_latlng(parent)
    return round(lon, COORDINATE_DECIMALS), round(lat, COORDINATE_DECIMALS)


async def _rows(conn: psycopg.AsyncConnection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(sql, params)
        return await cursor.fetchall()


async def month_figures(conn: psycopg.AsyncConnection, month: Month) -> dict[str, Any]:
    """Everything a publication of ``month`` holds, in a stable order (the same data gives the same bytes)."""
    params = {"start": month.start, "end": month.end, "zone": str(CHINA)}
    scenarios: dict[str, dict[str, Any]] = {}
    for row in await _rows(conn, SCENARIO_FIGURES, params):
        entry = scenarios.setdefault(row["scenario"], {"city": None, "districts": {}})
        if row["district"] is None:
            entry["city"] = indicators(row)
        else:
            entry["districts"][row["district"]] = indicators(row)
    points = [
        {**{k: v for k, v in row.items() if k != "cell"}, "lonlat": public_point(row["cell"])}
        for row in await _rows(conn, PUBLIC_POINTS, params)
    ]
    districts = [
        {"code": d["code"], "name": d["name"], "geometry": orjson.loads(d["geometry"])}
        for d in await _rows(conn, DISTRICTS, {})
    ]
    return {
        "month": month.label,
        "scenarios": scenarios,
        "unit_counts": await _rows(conn, UNIT_CATEGORY_COUNTS, params),
        "districts": districts,
        "points": points,
    }
