"""Units looked up by what a person types: the city's code, a unit's code, the city's outline.

The command line and the tools ask these before they act (``cityops report --unit 320102``,
the simulator walking inside the city); the answers come from the ``unit`` table as loaded.
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from spatial.errors import NotFoundError


def city_code(conn: Connection) -> str:
    """The code of the city (the first city-tier unit loaded)."""
    return conn.execute(text("SELECT code FROM unit WHERE tier = 'city' ORDER BY id LIMIT 1")).scalar_one()


def city_outline(conn: Connection) -> BaseGeometry:
    """The union of the top tier loaded (the city)."""
    wkb = conn.execute(
        text("SELECT ST_AsBinary(ST_Union(geom)) FROM unit WHERE tier = (SELECT min(tier) FROM unit)")
    ).scalar_one()
    return shapely.from_wkb(bytes(wkb))


class Found(NamedTuple):
    """A unit as a command names it: id, code, name and outline (WKB)."""

    id: int
    code: str
    name: str
    outline: bytes


async def unit_or_city(conn: psycopg.AsyncConnection, code: str | None) -> Found:
    """The unit with ``code``, or the city when no code is given; NotFoundError naming the code otherwise."""
    if code is None:
        found = await (await conn.execute("SELECT code FROM unit WHERE tier = 'city' LIMIT 1")).fetchone()
        code = found[0] if found else ""
    row = await (await conn.execute("SELECT id, name, ST_AsBinary(geom) FROM unit WHERE code = %s", (code,))).fetchone()
    if row is None:
        raise NotFoundError(f"no unit {code!r}")
    return Found(row[0], code, row[1], bytes(row[2]))
