"""The city's own basemap: a local PMTiles or MBTiles package served as XYZ tiles (issue 18).

Public like the hierarchy's tiles: a basemap is geography, not case data. The package the
operator imported (``cityops basemap import FILE``) wins over ``CITYOPS_BASEMAP_URL``: it is the
one that works when the network does not; the page offers the configured server as the other
choice in its basemap control. Tiles are immutable for a package, so they are cached for a day and
their URLs carry the package's version (``?v=``): a new import changes every URL.
"""

from __future__ import annotations

import gzip
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from spatial.basemap import MEDIA_TYPES, Basemap, Package, basemap_dir
from spatial.errors import InvalidInputError, NotFoundError
from spatial.settings import StoreSettings
from web.access import PUBLIC
from web.services import BasemapDep, SettingsDep

router = APIRouter(prefix="/basemap", tags=["basemap"], dependencies=[Depends(PUBLIC)])
MAX_AGE = 86400
ALIASES = {"jpeg": "jpg", "mvt": "pbf"}
Z = Annotated[int, Path(ge=0, le=30)]
XY = Annotated[int, Path(ge=0, lt=2**30)]
Extension = Literal["png", "jpg", "jpeg", "webp", "pbf", "mvt"]


def serving(store: StoreSettings) -> Basemap:
    """The app's basemap, read from the city's basemap directory (``web.services.BasemapDep``)."""
    return Basemap(basemap_dir(store))


def _public(package: Package) -> dict[str, object]:
    """What the page needs to draw the package (no file names or paths of the server)."""
    west, south, east, north = package.bounds
    return {
        "format": package.format,
        "kind": package.kind,
        "tile_type": package.tile_type,
        "min_zoom": package.min_zoom,
        "max_zoom": package.max_zoom,
        "bounds": [west, south, east, north],
        "name": package.name,
        "attribution": package.attribution,
        "layers": list(package.layers),
        "tiles": package.tiles,
        "size": package.size,
        "version": package.version,
        "imported_at": package.imported_at,
        "url": f"/basemap/{{z}}/{{x}}/{{y}}.{package.tile_type}?v={package.version}",
    }


class BasemapInfo(BaseModel):
    """The imported tile package, if any (kind, zooms, bounds, attribution, tile URL), and which basemap the
    page shows first: ``package``, ``configured`` (a tile service's URL), or none."""

    package: dict[str, Any] | None
    configured: bool
    active: Literal["package", "configured"] | None


@router.get("/info", response_model=BasemapInfo)
async def basemap_info(basemap: BasemapDep, settings: SettingsDep) -> dict[str, object]:
    """The imported package (kind, zooms, bounds, attribution, tile URL) and which basemap the page shows first."""
    current = basemap.current()
    configured = bool(settings.basemap_url)  # its key stays out of a public answer
    active = "package" if current else "configured" if configured else None
    return {"package": _public(current[0]) if current else None, "configured": configured, "active": active}


@router.get(
    "/{z}/{x}/{y}.{ext}",
    response_class=Response,
    responses={
        200: {"content": {media: {} for media in MEDIA_TYPES.values()}},
        304: {"description": "the browser's copy is current"},
        404: {"description": "no package, or no tile there"},
    },
)
async def basemap_tile(request: Request, z: Z, x: XY, y: XY, ext: Extension, basemap: BasemapDep) -> Response:
    """One tile of the imported package (vector tiles gzip-encoded as stored when the browser accepts it)."""
    if x >= 1 << z or y >= 1 << z:
        raise InvalidInputError(f"tile {z}/{x}/{y} does not exist: at zoom {z}, x and y run from 0 to {(1 << z) - 1}")
    current = basemap.current()
    if current is None:
        raise NotFoundError("no basemap package is imported (`cityops basemap import FILE`)")
    package, reader = current
    if ALIASES.get(ext, ext) != package.tile_type:
        kind = package.tile_type
        raise NotFoundError(f"the basemap holds {kind} tiles: ask /basemap/{z}/{x}/{y}.{kind}")
    etag = f'"{package.version}"'
    headers = {"Cache-Control": f"public, max-age={MAX_AGE}", "ETag": etag, "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    data = await run_in_threadpool(reader.tile, z, x, y)
    if data is None:
        raise NotFoundError(
            f"the basemap has no tile {z}/{x}/{y}: it covers zooms {package.min_zoom}–"
            f"{package.max_zoom} within {', '.join(f'{v:.4f}' for v in package.bounds)}"
        )
    if package.compression == "gzip":
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
        else:
            data = gzip.decompress(data)
    return Response(data, media_type=MEDIA_TYPES[package.tile_type], headers=headers)
