"""``/tiles/{layer}/{z}/{x}/{y}.pbf``: vector tiles of the hierarchy (public) and of the caller's open cases.

Boundaries are public geography, cached by browsers, proxies and the serving process (its last
``UNIT_TILES_KEPT`` tiles) for ``UNIT_MAX_AGE``: a boundary import shows on the map within that
time. Cases are the caller's jurisdiction (row-level security), cached only by the caller's
browser, briefly — the live stream keeps the map current between fetches.
"""

from __future__ import annotations

from typing import Annotated

from cachetools import TTLCache
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from spatial.tiers import Tier
from spatial.vector_tiles import Tile, TileLayer, cut_tile
from web.access import PUBLIC, Access
from web.deps import connection, read_connection
from web.services import UnitTilesDep

router = APIRouter(prefix="/tiles", tags=["tiles"])
MVT = "application/vnd.mapbox-vector-tile"
UNIT_MAX_AGE = 300
UNIT_TILES_KEPT = 4096  # ~10 MB: unit tiles average a few kilobytes


def unit_tile_cache() -> TTLCache[tuple[Tier, int, int, int], Tile]:
    """The process's cache of unit tiles (one per app: each app serves one city's database)."""
    return TTLCache(maxsize=UNIT_TILES_KEPT, ttl=UNIT_MAX_AGE)


CASE_MAX_AGE = 5
UNIT_ATTRIBUTES = "t.code, t.name, t.tier::text AS tier, t.kind::text AS kind"


# from which zoom each tier's tiles carry features (a grid is ~0.7 km² on average: ~100 a tile at z12)
UNIT_LAYERS = {
    tier: TileLayer(tier.value, "unit", UNIT_ATTRIBUTES, "t.tier = %(tier)s::tier", min_zoom, polygons=True)
    for tier, min_zoom in zip(Tier, (0, 0, 8, 10, 11, 14), strict=True)
}
CASES = TileLayer(  # the caller's open cases in the box, read by the index (migration 0016)
    "cases",
    "cityops_case_points({box})",
    "t.id::text AS id, t.state, t.severity, t.category_code AS category, (t.deadline < now()) AS overdue",
    gather_below=14,
    # counted inside (migration 0048); to zoom 11, the city's to a street's from their cells' rollup (0058)
    gathered="cityops_case_cells({box}, %(resolution)s)",
    gathered_attributes="t.count, t.severity, t.overdue",
    in_box="true",
)
Z = Annotated[int, Path(ge=0, le=22)]
XY = Annotated[int, Path(ge=0, lt=2**22)]


def _answer(tile: Tile, cache: str) -> Response:
    headers = {"Cache-Control": cache}
    if tile.truncated:
        headers["X-Tile-Truncated"] = "true"  # the tile holds its layer's cap of features, not all
    return Response(tile.data, media_type=MVT, headers=headers, status_code=200 if tile.data else 204)


@router.get(
    "/cases/{z}/{x}/{y}.pbf",
    response_class=Response,
    dependencies=[Depends(Access("cases:read"))],
    responses={200: {"content": {MVT: {}}}, 204: {"description": "no open case in the tile"}},
)
async def case_tile(request: Request, z: Z, x: XY, y: XY) -> Response:
    """Open cases of the caller's jurisdiction; below zoom 14 gathered per H3 cell with their count."""
    async with read_connection(request) as conn:
        tile = await cut_tile(conn, CASES, z, x, y)
    return _answer(tile, f"private, max-age={CASE_MAX_AGE}")


@router.get(
    "/units/{z}/{x}/{y}.pbf",
    response_class=Response,
    dependencies=[Depends(PUBLIC)],
    responses={200: {"content": {MVT: {}}}, 204: {"description": "no unit there"}},
)
async def units_tile(request: Request, z: Z, x: XY, y: XY, kept: UnitTilesDep) -> Response:
    """Every tier in one tile, each a layer of its own from its first zoom: a map of the whole hierarchy
    asks one tile where it would ask six."""
    parts = [await _unit_tile(request, kept, tier, z, x, y) for tier in Tier if z >= UNIT_LAYERS[tier].min_zoom]
    return _answer(
        Tile(b"".join(p.data for p in parts), any(p.truncated for p in parts)), f"public, max-age={UNIT_MAX_AGE}"
    )


async def _unit_tile(request: Request, kept: TTLCache[object, Tile], tier: Tier, z: int, x: int, y: int) -> Tile:
    tile = kept.get((tier, z, x, y))
    if tile is None:
        async with connection(request) as conn:
            tile = kept[(tier, z, x, y)] = await cut_tile(conn, UNIT_LAYERS[tier], z, x, y, {"tier": tier.value})
    return tile


@router.get(
    "/{layer}/{z}/{x}/{y}.pbf",
    response_class=Response,
    dependencies=[Depends(PUBLIC)],
    responses={200: {"content": {MVT: {}}}, 204: {"description": "no unit of this tier there"}},
)
async def unit_tile(request: Request, layer: Tier, z: Z, x: XY, y: XY, kept: UnitTilesDep) -> Response:
    """One tier of the hierarchy (code, name, tier, kind per unit)."""
    return _answer(await _unit_tile(request, kept, layer, z, x, y), f"public, max-age={UNIT_MAX_AGE}")
