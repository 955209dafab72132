"""`cityops bench basemap`: tiles of an imported basemap package against the hierarchy's own tiles.

Why: the basemap is the first thing a map page asks for, dozens of tiles per view; reading them
from a local package must cost no more than the tiles the platform already serves. Compared in
one run, p50 / p99 with wrk over the same tile addresses:

- ``GET /basemap/{z}/{x}/{y}.png`` from an MBTiles package (a pool of read-only SQLite handles),
- ``GET /basemap/{z}/{x}/{y}.pbf`` from a PMTiles package (one memory map),
- the baseline ``GET /tiles/units/{z}/{x}/{y}.pbf`` (PostGIS ``ST_AsMVT`` behind the process's tile
  cache, warm: every address was asked once before measuring).

The packages are built from the city's own outlines (districts and streets, their names) — the
same way the tests build theirs — so the data is real and the run needs no download: vector
tiles cut by PostGIS (``ST_AsMVT``), raster tiles drawn from the same outlines with Pillow.
"""

from __future__ import annotations

import gzip
import io
import math
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import shapely
from PIL import Image, ImageDraw
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write
from rich.console import Console
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from bench.harness import Row, cycling_gets, print_table, run_wrk, served
from bench.machine import describe
from spatial.basemap import basemap_dir, import_package, remove_package
from spatial.db import make_engine
from spatial.settings import StoreSettings

Tile = tuple[int, int, int]
EXTENT = "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM unit) x"
# the outlines of districts (and streets from zoom 10) as lines in the tile's pixels, with OpenMapTiles' admin levels
OUTLINES = """
SELECT ST_AsMVT(q, 'boundary', :extent, 'geom') FROM (
  SELECT CASE u.tier WHEN 'district' THEN 6 ELSE 8 END AS admin_level, u.name,
         ST_AsMVTGeom(ST_Boundary(ST_Transform(u.geom, 3857)), ST_TileEnvelope(:z, :x, :y), :extent, 8, true) AS geom
  FROM unit u
  WHERE (u.tier = 'district' OR (u.tier = 'street' AND :z >= 10))
    AND u.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)
) q WHERE geom IS NOT NULL
"""
PLACES = """
SELECT ST_AsMVT(q, 'place', :extent, 'geom') FROM (
  SELECT CASE u.tier WHEN 'district' THEN 'city' ELSE 'suburb' END AS class, u.name,
         ST_AsMVTGeom(ST_Transform(ST_PointOnSurface(u.geom), 3857), ST_TileEnvelope(:z, :x, :y), :extent, 0, false)
           AS geom
  FROM unit u
  WHERE (u.tier = 'district' OR (u.tier = 'street' AND :z >= 11))
    AND u.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)
) q WHERE geom IS NOT NULL
"""
LINES = """
SELECT u.tier::text, ST_AsBinary(ST_AsMVTGeom(ST_Boundary(ST_Transform(u.geom, 3857)), ST_TileEnvelope(:z, :x, :y),
                                              256, 4, true))
FROM unit u
WHERE (u.tier = 'district' OR (u.tier = 'street' AND :z >= 11))
  AND u.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)
"""
INK = {"district": ((120, 110, 100), 2), "street": ((170, 165, 155), 1)}
PAPER = (242, 239, 233)


def city_bounds(engine: Engine) -> tuple[float, float, float, float]:
    """West, south, east, north of everything loaded."""
    with engine.connect() as conn:
        return tuple(conn.execute(text(EXTENT)).one())


def tiles_over(bounds: tuple[float, float, float, float], zooms: range) -> Iterator[Tile]:
    """Every XYZ tile of ``zooms`` that touches ``bounds`` (web Mercator, y from the top)."""
    west, south, east, north = bounds
    for z in zooms:
        (x0, y0), (x1, y1) = _tile_of(west, north, z), _tile_of(east, south, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                yield z, x, y


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def vector_tiles(engine: Engine, zooms: range) -> dict[Tile, bytes]:
    """Outlines and names of the city's districts and streets as Mapbox vector tiles (layers boundary, place)."""
    found = {}
    with engine.connect() as conn:
        for z, x, y in tiles_over(city_bounds(engine), zooms):
            where = {"z": z, "x": x, "y": y, "extent": 4096}
            data = bytes(conn.execute(text(OUTLINES), where).scalar_one()) + bytes(
                conn.execute(text(PLACES), where).scalar_one()
            )
            if data:
                found[(z, x, y)] = data
    return found


def raster_tiles(engine: Engine, zooms: range) -> dict[Tile, bytes]:
    """The same outlines drawn as 256-pixel PNG tiles."""
    found = {}
    with engine.connect() as conn:
        for z, x, y in tiles_over(city_bounds(engine), zooms):
            rows = conn.execute(text(LINES), {"z": z, "x": x, "y": y}).all()
            drawn = [(tier, shapely.from_wkb(bytes(wkb))) for tier, wkb in rows if wkb is not None]
            if drawn:
                found[(z, x, y)] = _draw(drawn)
    return found


def _draw(lines: list[tuple[str, BaseGeometry]]) -> bytes:
    image = Image.new("RGB", (256, 256), PAPER)
    pen = ImageDraw.Draw(image)
    for tier in ("street", "district"):  # districts over streets
        colour, width = INK[tier]
        for _, geometry in (entry for entry in lines if entry[0] == tier):
            for part in shapely.get_parts(geometry):
                if not part.is_empty:
                    pen.line([tuple(point) for point in shapely.get_coordinates(part)], fill=colour, width=width)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def write_mbtiles(path: Path, tiles: dict[Tile, bytes], tile_type: str, bounds: tuple[float, ...]) -> None:
    """An MBTiles 1.3 file: rows in TMS order (y from the bottom); vector tiles gzipped, as tools write them."""
    zooms = sorted({z for z, _, _ in tiles})
    metadata = {
        "name": "南京 outlines",
        "format": tile_type,
        "minzoom": str(zooms[0]),
        "maxzoom": str(zooms[-1]),
        "bounds": ",".join(f"{v:.6f}" for v in bounds),
        "attribution": "cityops test outlines",
        "type": "baselayer",
    }
    if tile_type == "pbf":
        metadata["json"] = '{"vector_layers": [{"id": "boundary", "fields": {}}, {"id": "place", "fields": {}}]}'
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name text, value text)")
        db.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)")
        db.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
        db.executemany("INSERT INTO metadata VALUES (?, ?)", metadata.items())
        db.executemany(
            "INSERT INTO tiles VALUES (?, ?, ?, ?)",
            [
                (z, x, (1 << z) - 1 - y, gzip.compress(data, mtime=0) if tile_type == "pbf" else data)
                for (z, x, y), data in tiles.items()
            ],
        )
    db.close()


def write_pmtiles(path: Path, tiles: dict[Tile, bytes], tile_type: str, bounds: tuple[float, ...]) -> None:
    """A PMTiles v3 archive with the pmtiles package's writer (vector tiles gzipped)."""
    vector = tile_type == "pbf"
    west, south, east, north = (round(v * 1e7) for v in bounds)
    header = {
        "tile_type": TileType.MVT if vector else TileType.PNG,
        "tile_compression": Compression.GZIP if vector else Compression.NONE,
        "min_lon_e7": west,
        "min_lat_e7": south,
        "max_lon_e7": east,
        "max_lat_e7": north,
    }
    metadata = {
        "name": "南京 outlines",
        "attribution": "cityops test outlines",
        "vector_layers": [{"id": "boundary"}, {"id": "place"}] if vector else [],
    }
    with write(path) as writer:
        for tile_id, data in sorted((zxy_to_tileid(*tile), data) for tile, data in tiles.items()):
            writer.write_tile(tile_id, gzip.compress(data, mtime=0) if vector else data)
        writer.finalize(header, metadata)


def run(settings: StoreSettings, *, seconds: float, clients: int, console: Console) -> list[Row]:
    """Build the two packages, serve each, and drive the tile endpoints against the hierarchy's tiles."""
    engine = make_engine(settings)
    directory = basemap_dir(settings)
    zooms = range(10, 14)
    console.print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as scratch:
        raster_path, vector_path = Path(scratch) / "outlines.mbtiles", Path(scratch) / "outlines.pmtiles"
        bounds = city_bounds(engine)
        raster, vector = raster_tiles(engine, zooms), vector_tiles(engine, zooms)
        write_mbtiles(raster_path, raster, "png", bounds)
        write_pmtiles(vector_path, vector, "pbf", bounds)
        addresses = sorted(set(raster) & set(vector))
        console.print(
            f"data: {len(addresses)} tiles at zooms {zooms.start}–{zooms.stop - 1} over the city's "
            f"outlines; MBTiles {raster_path.stat().st_size / 1e6:.1f} MB (png), "
            f"PMTiles {vector_path.stat().st_size / 1e6:.1f} MB (pbf)"
        )
        try:
            rows = _measure(settings, directory, raster_path, vector_path, addresses, seconds, clients)
        finally:
            remove_package(directory)  # the benchmark's own city: nothing of a real city's is touched
    engine.dispose()
    print_table(rows, console)
    return rows


def _measure(
    settings: StoreSettings,
    directory: Path,
    raster: Path,
    vector: Path,
    addresses: list[Tile],
    seconds: float,
    clients: int,
) -> list[Row]:
    def paths(template: str) -> list[str]:
        return [template.format(z=z, x=x, y=y) for z, x, y in addresses]

    results = {}
    with served(settings) as base:
        baseline_paths = paths("/tiles/units/{z}/{x}/{y}.pbf")
        for path in baseline_paths:  # warm: the hierarchy's tiles come from the process's cache, as in use
            httpx.get(f"{base}{path}")
        results["units"] = run_wrk(base, cycling_gets(baseline_paths), clients, seconds)
        for name, package, suffix in (("MBTiles png", raster, "png"), ("PMTiles pbf", vector, "pbf")):
            import_package(package, directory)
            served_paths = paths("/basemap/{z}/{x}/{y}." + suffix)
            for _ in range(50):  # the serving process reads the new record within a second
                if httpx.get(f"{base}{served_paths[0]}").status_code == 200:
                    break
                time.sleep(0.1)
            results[name] = run_wrk(base, cycling_gets(served_paths), clients, seconds)
    units = results["units"]
    return [
        Row(
            f"{name} p50 / p99 (ms)",
            f"{r.p50_ms:.2f} / {r.p99_ms:.2f}",
            f"/tiles/units {units.p50_ms:.2f} / {units.p99_ms:.2f}",
            units.p99_ms / r.p99_ms,
            "—",
        )
        for name, r in results.items()
        if name != "units"
    ] + [
        Row(f"{name} requests/s", f"{r.rps:,.0f}", f"/tiles/units {units.rps:,.0f}", r.rps / units.rps, "—")
        for name, r in results.items()
        if name != "units"
    ]
