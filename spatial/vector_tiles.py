"""Mapbox vector tiles (MVT) cut by PostGIS: the big layers reach the map a tile at a time.

A city has ~10k grids and tens of thousands of buildings and cases; as GeoJSON the whole layer
is many megabytes, as tiles the map fetches only the few it shows, each a few kilobytes of
quantised, clipped geometry (``ST_AsMVTGeom``), cacheable by the browser. A tile holds at most
``cap`` features; one that would hold more is cut at the cap and says so, and each layer starts
at the zoom where its features become distinguishable, so a full tile is the exception.
Points far zoomed out are gathered per H3 cell (resolution zoom − 4, a few dozen pixels across,
grouped by the cell each row keeps: no geometry is projected or snapped per point) with their count;
the layer's source decides where a cell is drawn (the cases' at the mean of all its cases, in the one
tile holding that mean).

Polygons are simplified to a tenth of a tile unit and clipped to the tile (with its buffer)
before they are projected: a district's boundary has thousands of vertices, and projecting all
of them for every tile it touches made a low-zoom tile cost 54 ms instead of 4 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from spatial.errors import InvalidInputError

MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64

TILE = """
WITH bounds AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS merc,
                       ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => {margin}), 4326) AS box),
features AS (
    SELECT ST_AsMVTGeom(ST_Transform({shape}, 3857), bounds.merc, {extent}, {buffer}, true) AS geom, {attributes}
    FROM {source} t, bounds
    WHERE {in_box} AND {where}
    LIMIT %(cap)s + 1
)
SELECT ST_AsMVT(capped, %(layer)s, {extent}, 'geom'), (SELECT count(*) FROM features) > %(cap)s
FROM (SELECT * FROM features LIMIT %(cap)s) capped
"""
# points zoomed out: one feature per H3 cell a few dozen pixels across, from the layer's source of gathered rows
GATHERED = """
WITH features AS (
    SELECT ST_AsMVTGeom(ST_Transform(ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326), 3857),
                        ST_TileEnvelope(%(z)s, %(x)s, %(y)s), {extent}, 0, true) AS geom, {attributes}
    FROM {source} t
    LIMIT %(cap)s + 1
)
SELECT ST_AsMVT(capped, %(layer)s, {extent}, 'geom'), (SELECT count(*) FROM features) > %(cap)s
FROM (SELECT * FROM features LIMIT %(cap)s) capped
"""


@dataclass(frozen=True)
class TileLayer:
    """One layer's tiles: its rows (``source`` aliased ``t`` with a ``geom``), attributes and zooms.

    Every piece is fixed SQL written here, never taken from a request; only z, x, y, the cap and
    the names in ``params`` are bound; ``{box}`` in ``source`` or ``in_box`` is the tile's box.
    Below ``gather_below`` a point layer's features are gathered per H3 cell (resolution zoom − 4):
    ``gathered`` is then the source, one row per cell with its point (``lon``, ``lat``) and the
    ``gathered_attributes``; ``%(resolution)s`` in it is the cells' resolution.
    """

    name: str
    source: str
    attributes: str
    where: str = "true"
    min_zoom: int = 0
    cap: int = 5000
    gather_below: int | None = None
    gathered: str = ""
    gathered_attributes: str = ""
    polygons: bool = False
    in_box: str = "t.geom && {box}"  # a table under row-level security needs its own (migration 0016)


@dataclass(frozen=True)
class Tile:
    """A cut tile: its protobuf bytes and whether features were left out at the cap."""

    data: bytes
    truncated: bool


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse coordinates that name no tile."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInputError(f"zoom {z} is outside 0…{MAX_ZOOM}")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInputError(f"tile {z}/{x}/{y} does not exist: x and y run 0…{2**z - 1} at zoom {z}")


async def cut_tile(
    conn: psycopg.AsyncConnection, layer: TileLayer, z: int, x: int, y: int, params: dict[str, object] | None = None
) -> Tile:
    """The tile z/x/y of ``layer`` (empty below the layer's first zoom)."""
    check_tile(z, x, y)
    if z < layer.min_zoom:
        return Tile(b"", False)
    gathered = layer.gather_below is not None and z < layer.gather_below
    shape = "ST_ClipByBox2D(ST_Simplify(t.geom, %(tolerance)s, true), bounds.box)" if layer.polygons else "t.geom"
    margin = 0 if gathered else BUFFER / EXTENT  # a gathered point is counted in one tile only
    # the box as parameters, not as the CTE's column: a subquery naming bounds would run once a row
    box = f"ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => {margin}), 4326)"
    sql = (GATHERED if gathered else TILE).format(
        extent=EXTENT,
        buffer=BUFFER,
        margin=BUFFER / EXTENT,
        source=(layer.gathered if gathered else layer.source).format(box=box),
        attributes=layer.gathered_attributes if gathered else layer.attributes,
        where=layer.where,
        shape=shape,
        in_box=layer.in_box.format(box=box),
    )
    tolerance = 360 / 2**z / EXTENT / 10  # degrees: a tenth of a tile unit (a tile is 4096 units wide)
    bound = {
        "z": z,
        "x": x,
        "y": y,
        "cap": layer.cap,
        "layer": layer.name,
        "tolerance": tolerance,
        "resolution": min(9, max(4, z - 4)),
        **(params or {}),
    }
    row = await (await conn.execute(sql, bound)).fetchone()
    data, truncated = row if row is not None else (b"", False)
    return Tile(bytes(data or b""), bool(truncated))
