"""Request-scoped dependencies, as Annotated aliases the routes declare."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Connection

from grid.locate import Locator
from spatial.errors import InvalidInputError


def get_conn(request: Request) -> Iterator[Connection]:
    """A pooled connection for the request; read-only work needs no transaction management."""
    with request.app.state.engine.connect() as conn:
        yield conn


def get_locator(request: Request) -> Locator:
    """The process-wide locator (it caches the coverage resolution)."""
    return request.app.state.locator


def bbox_query(
    bbox: Annotated[
        str | None,
        Query(description="minLon,minLat,maxLon,maxLat in WGS84", examples=["118.7,32.0,118.9,32.1"]),
    ] = None,
) -> tuple[float, float, float, float] | None:
    """Parse and check a bbox string; the message names the part that is wrong."""
    if bbox is None:
        return None
    parts = bbox.split(",")
    if len(parts) != 4:
        raise InvalidInputError(f"bbox needs 4 numbers minLon,minLat,maxLon,maxLat; got {len(parts)}")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise InvalidInputError(f"bbox must be numbers, got {bbox!r}") from None
    values = (west, south, east, north)
    if any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise InvalidInputError("bbox values must be finite numbers")
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidInputError(f"bbox {bbox!r} is outside lon -180…180 / lat -90…90 (lon first)")
    if west > east or south > north:
        raise InvalidInputError(
            f"bbox {bbox!r}: minimum must not exceed maximum (minLon,minLat,maxLon,maxLat)"
        )
    return values


ConnDep = Annotated[Connection, Depends(get_conn)]
LocatorDep = Annotated[Locator, Depends(get_locator)]
BBoxDep = Annotated[tuple[float, float, float, float] | None, Depends(bbox_query)]
